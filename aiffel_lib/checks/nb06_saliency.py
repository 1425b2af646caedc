"""Notebook 06's checks: vanilla saliency by hand and the fooling step."""

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
            got = _numeric_array(_call(fooling_step, img.copy(), grad.copy(), lr, what="fooling_step"),
                                 "the new image").astype(np.float64)
            g = grad.astype(np.float64)
            ref = img + lr * g / np.linalg.norm(g)
            if got.shape != img.shape:
                raise _Mistake(f"the new image has shape {got.shape}, expected {img.shape}",
                               "return an array of the image's shape: image + lr * grad / norm")
            if np.allclose(got, ref, rtol=1e-4, atol=1e-6 * lr):
                n += 1
                continue
            step = got - img
            wrong = {
                "the step goes against the gradient (that lowers the target's score)": -lr * g / np.linalg.norm(g),
                "the gradient was not normalised": lr * g,
                "the gradient was normalised per pixel (over the channel axis), not as one vector":
                    lr * g / np.linalg.norm(g, axis=-1, keepdims=True),
                "the step uses the sign of the gradient (FGSM), not the gradient over its L2 norm": lr * np.sign(g),
                "the gradient was divided by its largest value, not by its L2 norm": lr * g / np.abs(g).max(),
                "the learning rate lr is not used": g / np.linalg.norm(g),
            }
            if scale < 1 and n and np.allclose(step, lr * g, rtol=1e-4, atol=1e-7):
                raise _Mistake("a small gradient is not scaled up to length lr: the gradient is clipped "
                               "(e.g. tf.clip_by_norm), not normalised", "divide by its L2 norm: grad / ||grad||")
            for message, candidate in wrong.items():
                if np.allclose(step, candidate, rtol=1e-4, atol=1e-7):
                    raise _Mistake(message, "image + lr * grad / np.linalg.norm(grad): up the gradient, "
                                            "every step of length lr")
            raise _Mistake("the step differs from lr * g / ||g||_2",
                           "image + lr * grad / np.linalg.norm(grad)")
        return n

    return _verdict("fooling_step", body)


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
