"""Notebook 06's checks: vanilla saliency by hand, the class-visualisation step and the fooling step."""

from __future__ import annotations

from typing import Callable

import numpy as np

from aiffel_lib.checks._core import Notes, Verdict, _call, _Mistake, _numeric_array, _verdict

_TAPE_HINTS = [
    (r"NoneType|None", "tape.gradient returned None: the score was not computed from the watched images inside the "
                       "tape (model.predict and NumPy leave the tape): x = tf.convert_to_tensor(images), "
                       "tape.watch(x), scores = model(x) inside `with tf.GradientTape() as tape:`"),
    (r"numpy|ndarray", "watch a tensor, not a NumPy array: x = tf.convert_to_tensor(images, tf.float32)"),
]


#: np.linalg.norm(x, ord=2) on an image: ``ord`` is for vectors and matrices only.
_NORM_HINT = (r"Improper number of dimensions to norm",
              "np.linalg.norm(x, ord=2) takes only vectors and matrices: leave out ord, the default is the L2 norm "
              "of the whole array (np.linalg.norm(x))")


def _normalised_step_mistake(step: np.ndarray, lr: float, d: np.ndarray, *, what: str, name: str, rate: str,
                             formula: str, earlier_passed: bool, specific: dict, close: dict) -> None:
    """Raise the :class:`_Mistake` a wrong step matches, if any: ``step`` should be ``lr * d / ||d||_2``.

    what/name: the vector in words and in code ("gradient"/"grad"); rate: the learning rate's name;
    specific: the check's own {message: wrong step}, tried before the mistakes any normalised step
    can make; earlier_passed: a larger case passed, so ``lr * d`` here means clipped, not unnormalised."""
    if earlier_passed and np.allclose(step, lr * d, **close):
        raise _Mistake(f"a small {what} is not scaled up to length {rate}: it is clipped (e.g. tf.clip_by_norm), "
                       "not normalised", f"divide {name} by its L2 norm: {name} / ||{name}||")
    common = {
        f"the {what} was not normalised: divide it by its L2 norm, so that every step has length {rate}": lr * d,
        f"the {what} was normalised per pixel (over the channel axis), not as one vector":
            lr * d / np.linalg.norm(d, axis=-1, keepdims=True),
        f"the step uses the sign of the {what} (as FGSM does), not the {what} over its L2 norm": lr * np.sign(d),
        f"the {what} was divided by its largest value, not by its L2 norm": lr * d / np.abs(d).max(),
        f"the learning rate is not used: every step must have length {rate}": d / np.linalg.norm(d),
    }
    for message, candidate in {**specific, **common}.items():
        if np.allclose(step, candidate, **close):
            raise _Mistake(message, formula)


def check_fooling_step(fooling_step: Callable) -> Verdict:
    """``fooling_step(image, grad, lr) -> image + lr * grad / ||grad||_2`` (CS231n's normalised
    step), the norm taken over the whole gradient. Checked with a large and a tiny gradient (so
    that clipping is not mistaken for normalising) and two learning rates; NumPy or TensorFlow,
    any dtype, an epsilon in the denominator pass."""

    def body(notes: Notes) -> int:
        rng = np.random.default_rng(1)
        img = rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
        n = 0
        for scale, lr in ((1.0, 1.0), (1e-3, 1.0), (1.0, 0.5)):
            grad = (scale * rng.normal(size=img.shape)).astype(np.float32)
            got = _numeric_array(_call(fooling_step, img.copy(), grad.copy(), lr, what="fooling_step",
                                       hints=[_NORM_HINT]),
                                 "the new image").astype(np.float64)
            g = grad.astype(np.float64)
            ref = img + lr * g / np.linalg.norm(g)
            if got.shape != img.shape:
                raise _Mistake(f"the new image has shape {got.shape}, expected {img.shape}",
                               "return an array of the image's shape: image + lr * grad / norm")
            if np.allclose(got, ref, rtol=1e-4, atol=1e-6 * lr):
                n += 1
                continue
            against = {"the step goes against the gradient (that lowers the target's score)":
                       -lr * g / np.linalg.norm(g)}
            _normalised_step_mistake(got - img, lr, g, what="gradient", name="grad", rate="lr",
                                     formula="image + lr * grad / np.linalg.norm(grad): up the gradient, "
                                             "every step of length lr",
                                     earlier_passed=n > 0, specific=against, close=dict(rtol=1e-4, atol=1e-7))
            raise _Mistake("the step differs from lr * g / ||g||_2",
                           "image + lr * grad / np.linalg.norm(grad)")
        return n

    return _verdict("fooling_step", body)


def check_class_visualization_update_step(update_step: Callable) -> Verdict:
    """``update_step(image, grad, l2_reg, learning_rate)``: one step of length ``learning_rate`` up
    ``score_c(image) - l2_reg * ||image||^2``, i.e. ``image + learning_rate * d / ||d||_2`` with
    ``d = grad - 2 * l2_reg * image`` (CS231n's ``class_visualization_update_step``).

    The outcome is compared with :func:`aiffel_lib.saliency.class_visualization_update_step` on
    three cases: a penalty as strong as the score's gradient (so its sign and factor show), a tiny
    direction (so that clipping is not mistaken for normalising) and the assignment's own settings.
    NumPy or TensorFlow, any dtype, an epsilon in the denominator, in-place updates pass."""
    from aiffel_lib.saliency.generation import class_visualization_update_step as reference

    hints = [(r"no attribute 'numpy'", "image and grad arrive as NumPy arrays: no .numpy() is needed "
                                       "(np.linalg.norm works on them directly)"),
             (r"axis", "image is ONE picture, (H, W, C), without a batch axis: take the norm of the whole array"),
             _NORM_HINT]

    def body(notes: Notes) -> int:
        rng = np.random.default_rng(6)
        shape = (8, 8, 3)
        cases = [  # (image, grad, l2_reg, learning_rate)
            (rng.normal(0, 0.5, shape), rng.normal(0, 1, shape), 0.2, 2.0),       # penalty ~ gradient
            (rng.normal(0, 0.1, shape), rng.normal(0, 1e-3, shape), 1e-3, 25.0),  # ||d|| << 1
            (rng.uniform(-1, 1, shape), rng.normal(0, 1e-2, shape), 1e-3, 25.0),  # the assignment's lr, L2
        ]
        n = 0
        for img, grad, l2_reg, lr in cases:
            img, grad = img.astype(np.float32), grad.astype(np.float32)
            got = _numeric_array(_call(update_step, img.copy(), grad.copy(), l2_reg, lr,
                                       what="class_visualization_update_step", hints=hints),
                                 "the new image").astype(np.float64)
            if got.shape != img.shape:
                raise _Mistake(f"the new image has shape {got.shape}, expected the image's {img.shape}",
                               "return an array of the image's shape (no batch axis): image + learning_rate * ...")
            x, g = img.astype(np.float64), grad.astype(np.float64)
            close = dict(rtol=1e-4, atol=1e-5)
            if np.allclose(got, reference(x, g, l2_reg, lr), **close):
                n += 1
                continue
            d = g - 2 * l2_reg * x
            unit = d / np.linalg.norm(d)
            formula = "image + learning_rate * d / ||d||_2 with d = grad - 2 * l2_reg * image"
            wrong = {
                "the step goes down (gradient descent): class visualisation climbs score - l2_reg * ||image||^2":
                    -lr * unit,
                "the score's gradient is followed downwards: d = grad - 2 * l2_reg * image, not -grad - ...":
                    lr * (-g - 2 * l2_reg * x) / np.linalg.norm(-g - 2 * l2_reg * x),
                "the L2 term has the wrong sign: its gradient is subtracted (d = grad - 2 * l2_reg * image), "
                "which pulls the image towards grey":
                    lr * (g + 2 * l2_reg * x) / np.linalg.norm(g + 2 * l2_reg * x),
                "the L2 term has the wrong sign, and its gradient is 2 * l2_reg * image":
                    lr * (g + l2_reg * x) / np.linalg.norm(g + l2_reg * x),
                "the L2 term is l2_reg * image, but the gradient of l2_reg * ||image||^2 is 2 * l2_reg * image "
                "(tf.nn.l2_loss is ||x||^2 / 2)":
                    lr * (g - l2_reg * x) / np.linalg.norm(g - l2_reg * x),
                "the L2 term is missing: l2_reg is not used, so nothing pulls the image towards grey":
                    lr * g / np.linalg.norm(g),
                "only the score's gradient was normalised: normalise the whole direction d, L2 term included":
                    lr * (g / np.linalg.norm(g) - 2 * l2_reg * x),
                "only the score's gradient was normalised, and the L2 term is not scaled by learning_rate":
                    lr * g / np.linalg.norm(g) - 2 * l2_reg * x,
            }
            if np.allclose(got, lr * unit, **close):
                raise _Mistake("the function returns the step alone, not the new image", "add the step to image")
            _normalised_step_mistake(got - x, lr, d, what="direction d", name="d", rate="learning_rate",
                                     formula=formula, earlier_passed=n > 0, specific=wrong, close=close)
            raise _Mistake("the new image differs from one step of length learning_rate up "
                           "score - l2_reg * ||image||^2", formula)
        return n

    return _verdict("class_visualization_update_step", body)


def check_vanilla_saliency(saliency_fn: Callable) -> Verdict:
    """``saliency_fn(model, images, class_ids) -> (N, H, W)``: |d score / d x| max over channels,
    where ``model`` returns class scores and image i is explained for class_ids[i]. Checked on
    a linear model, where the answer is exact: each class' gradient is its weight column."""
    import keras
    import tensorflow as tf

    def body(notes: Notes) -> int:
        rng = np.random.default_rng(2)
        h = w = 6
        inputs = keras.Input((h, w, 3))
        scores = keras.layers.Dense(4, use_bias=False, name="scores")(keras.layers.Flatten()(inputs))
        model = keras.Model(inputs, scores)
        weights = rng.normal(size=(h * w * 3, 4)).astype(np.float32)
        model.get_layer("scores").set_weights([weights])
        images = rng.normal(size=(2, h, w, 3)).astype(np.float32)
        classes = np.array([1, 3])
        got = _numeric_array(_call(saliency_fn, model, images.copy(), classes.copy(), what="saliency",
                                   hints=_TAPE_HINTS), "the saliency maps").astype(np.float64)
        if got.shape != (2, h, w):
            hint = ("drop keepdims: reduce_max(..., axis=-1) gives (N, H, W)" if got.shape == (2, h, w, 1) else
                    "take the max of |gradient| over the channel axis (axis=-1)")
            raise _Mistake(f"the maps have shape {got.shape}, expected (N, H, W) = {(2, h, w)}", hint)
        cols = {c: weights[:, c].reshape(h, w, 3) for c in range(4)}

        def maps(grads, reduce=lambda g: np.abs(g).max(axis=-1)):
            return np.stack([reduce(g) for g in grads])

        if np.allclose(got, maps([cols[c] for c in classes]), rtol=1e-4, atol=1e-6):
            return 2
        close = dict(rtol=1e-4, atol=1e-6)
        wrong = {
            "the channels were averaged; CS231n takes the MAX of |gradient| over the channels":
                maps([cols[c] for c in classes], lambda g: np.abs(g).mean(axis=-1)),
            "the channels were summed; CS231n takes the MAX of |gradient| over the channels":
                maps([cols[c] for c in classes], lambda g: np.abs(g).sum(axis=-1)),
            "the absolute value is missing: saliency is tf.abs(gradient), then the max over channels":
                maps([cols[c] for c in classes], lambda g: g.max(axis=-1)),
            "every image's map uses the class of the first image; image i needs class_ids[i]":
                maps([cols[classes[0]]] * 2),
            "each map is the gradient of the SUM of all the images' class scores: pick image i's own score "
            "with tf.gather(scores, class_ids, axis=1, batch_dims=1)":
                maps([cols[classes[0]] + cols[classes[1]]] * 2),
        }
        top = np.asarray(model(images)).argmax(axis=1)
        if not np.array_equal(top, classes):
            wrong["the maps explain each image's top class, not class_ids"] = maps([cols[c] for c in top])
        for message, candidate in wrong.items():
            if np.allclose(got, candidate, **close):
                raise _Mistake(message, "scores = model(x); picked = tf.gather(scores, class_ids, axis=1, batch_dims=1)"
                                        "; reduce_max(abs(gradient), axis=-1)")
        x = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = tf.gather(tf.nn.softmax(model(x)), classes, axis=1, batch_dims=1)
        soft = np.abs(tape.gradient(p, x).numpy()).max(axis=-1)
        if np.allclose(got, soft, rtol=1e-3, atol=1e-7):
            raise _Mistake("the gradient was taken of the softmax probability",
                           "use the raw class score (before softmax): the probability also depends on the other classes")
        raise _Mistake("the maps differ from |d score / d image| (max over channels)",
                       "pick each image's own class score with tf.gather(scores, class_ids, axis=1, batch_dims=1), "
                       "differentiate with tf.GradientTape, take tf.abs, then reduce_max over the channel axis")

    return _verdict("saliency", body)
