"""Notebook 04's checks: the emoji model's head and the training call."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from aiffel_lib.checks._core import Notes, Verdict, _call, _Mistake, _verdict

_HEAD_RECIPE = ("features -> GlobalAveragePooling2D -> Dropout(dropout) -> Dense(num_classes, name='logits') "
                "-> Activation('softmax')")


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _build_head(head: Callable, num_classes: int, dropout: float, channels: int = 16):
    import keras

    features = keras.Input((3, 3, channels), name="features")
    out = _call(head, features, num_classes=num_classes, dropout=dropout, what="your head")
    if out is None:
        raise _Mistake("your head returned None", "return the output of the last layer (the softmax)")
    if isinstance(out, keras.Model):
        raise _Mistake("your head returned a Model; return the last layer's output tensor",
                       "build the layers on `features` and return the softmax's output; emotion.build_model "
                       "makes the Model")
    try:
        model = keras.Model(features, out)
    except Exception as exc:  # noqa: BLE001 — not a tensor built on `features`
        first = str(exc).splitlines()[0][:150] if str(exc) else ""
        raise _Mistake(f"could not build a model from what your head returned ({type(out).__name__}): {first}",
                       "call each layer on the previous layer's output, starting from `features`, "
                       "and return the last one") from None
    return model, out


def check_emoji_head(head: Callable) -> Verdict:
    """``head(features, num_classes=7, dropout=0.2) -> probabilities``: global average pooling,
    dropout at the given rate, a linear Dense named ``"logits"`` with bias, softmax once. Built
    on a small Keras feature map and compared numerically with that recipe (dropout is off at
    inference, so the output is exact); built again with other ``num_classes`` and ``dropout``
    to see both arguments are used. ``keras.layers.Softmax``, ``keras.ops`` pooling or extra
    names pass; the order of the steps and the 'logits' scores (notebook 06) matter."""
    import keras

    def body(notes: Notes) -> int:
        rng = np.random.default_rng(4)
        model, out = _build_head(head, 7, 0.2)
        shape = tuple(model.output_shape)
        if len(shape) != 2 or shape[-1] != 7:
            hint = ("pool the (h, w) grid away first: keras.layers.GlobalAveragePooling2D()" if len(shape) == 4
                    else "the last Dense layer needs num_classes units")
            raise _Mistake(f"the output has shape {shape}, expected (None, 7): one score per class", hint)
        logits = _logits_layer(model)
        kernel_in = logits.kernel.shape[0]
        if kernel_in == 3 * 3 * 16:
            raise _Mistake("the feature map was flattened (3 x 3 x 16 = 144 inputs to the Dense layer)",
                           "use keras.layers.GlobalAveragePooling2D(): one average per channel, "
                           "far fewer weights to overfit")
        if kernel_in != 16:
            raise _Mistake(f"the 'logits' Dense layer has {kernel_in} inputs, expected 16 (one per channel of "
                           "the features): is there another layer between the pooling and 'logits'?", _HEAD_RECIPE)
        if not logits.use_bias:
            raise _Mistake("the 'logits' Dense layer has no bias (use_bias=False)",
                           "keep the default bias: it lets each class have its own base score")
        if not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers):
            raise _Mistake("there is no Dropout layer", "add keras.layers.Dropout(dropout) before the Dense layer")
        _check_numbers(model, logits, rng)
        _check_arguments(head)
        if any(isinstance(layer, keras.layers.Flatten) for layer in model.layers):
            notes.append("a Flatten after the pooling changes nothing here (the pooled features are already flat)")
        return 6

    return _verdict("emoji head", body)


def _logits_layer(model: Any) -> Any:
    import keras

    try:
        logits = model.get_layer("logits")
    except ValueError:
        nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
        if nested:
            raise _Mistake(f"the layers sit inside a nested model ({nested[0]!r}), so the model has no layer "
                           "'logits' of its own (notebook 06 looks it up by name)",
                           "call each layer on the previous one's output instead of a keras.Sequential") from None
        raise _Mistake("there is no layer named 'logits'",
                       "name the Dense layer: keras.layers.Dense(num_classes, name='logits') — "
                       "saliency maps (notebook 06) explain its output, the score before softmax") from None
    if not isinstance(logits, keras.layers.Dense):
        raise _Mistake(f"the layer named 'logits' is a {type(logits).__name__}, expected Dense")
    return logits


def _check_numbers(model: Any, logits: Any, rng: np.random.Generator) -> None:
    import keras

    w = rng.normal(size=(16, 7)).astype(np.float32)
    b = rng.normal(size=7).astype(np.float32)
    logits.set_weights([w, b])
    x = rng.normal(size=(5, 3, 3, 16)).astype(np.float32)
    got = np.asarray(model(x, training=False), np.float64)
    z = x.mean(axis=(1, 2)) @ w + b
    to_logits = keras.Model(model.input, logits.output)
    scores = np.asarray(to_logits(x, training=False), np.float64)
    # While training, a Dropout before 'logits' changes its scores; one after it leaves them alone.
    if np.allclose(np.asarray(to_logits(x, training=True), np.float64), scores, atol=1e-6):
        raise _Mistake("the Dropout comes after the 'logits' Dense layer: it would silence class scores, "
                       "not features", "pool -> Dropout(dropout) -> Dense(num_classes, name='logits')")
    if not np.allclose(scores, z, atol=1e-4):
        if np.allclose(scores, _softmax(z), atol=1e-5):
            raise _Mistake("the 'logits' layer already applies softmax: its output should be the raw class scores "
                           "(notebook 06 explains them)",
                           "Dense(num_classes, name='logits') without activation, then Activation('softmax')")
        if np.allclose(scores, x.max(axis=(1, 2)) @ w + b, atol=1e-4):
            raise _Mistake("the features are max-pooled; the course averages them",
                           "keras.layers.GlobalAveragePooling2D()")
        raise _Mistake("the 'logits' scores differ from Dense(average of each channel)", _HEAD_RECIPE)
    if np.allclose(got, _softmax(z), atol=1e-5):
        return
    if np.allclose(got, _softmax(_softmax(z)), atol=1e-5):
        raise _Mistake("softmax is applied twice (the outputs are squeezed towards 1/7 each)",
                       "keep Dense(..., name='logits') linear and apply softmax once, in the last layer")
    if np.allclose(got, z, atol=1e-4):
        raise _Mistake("the outputs are raw scores: the softmax is missing (they do not sum to 1)",
                       "end with keras.layers.Activation('softmax', name='probabilities')")
    raise _Mistake("the probabilities differ from softmax(logits)", _HEAD_RECIPE)


def _check_arguments(head: Callable) -> None:
    import keras

    model, _ = _build_head(head, 5, 0.35, channels=8)
    if tuple(model.output_shape) != (None, 5):
        raise _Mistake(f"with num_classes=5 the output is {tuple(model.output_shape)}: the number of classes is "
                       "fixed instead of taken from num_classes", "keras.layers.Dense(num_classes, name='logits')")
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    if not any(abs(r - 0.35) < 1e-9 for r in rates):
        raise _Mistake(f"with dropout=0.35 the Dropout rate is {rates[0] if rates else None}: "
                       "the rate is fixed instead of taken from the `dropout` argument",
                       "use keras.layers.Dropout(dropout), not a fixed number")


# ---- the training call -------------------------------------------------------------------

def _recording_model():
    """A Keras model that trains nothing and records every batch fit and validation give it
    (after Keras' own data handling: class_weight becomes sample weights, datasets are read),
    with the epoch each came in."""
    import inspect

    import keras
    import tensorflow as tf

    class Epochs(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.count = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.count += 1

    class Recorder(keras.Model):
        def __init__(self):
            super().__init__()
            self.seen: dict[str, list] = {"train": [], "val": []}
            self.fit_calls = 0
            self.epochs = Epochs()

        def call(self, x):
            return keras.ops.zeros_like(x)

        def fit(self, *args, **kwargs):
            self.fit_calls += 1
            bound = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs)
            arguments = dict(bound.arguments)
            arguments.pop("self")
            arguments.update(arguments.pop("kwargs", {}))
            arguments["callbacks"] = list(arguments.get("callbacks") or []) + [self.epochs]
            return super().fit(**arguments)

        def train_step(self, data):
            self.seen["train"].append((self.epochs.count, *keras.utils.unpack_x_y_sample_weight(data)))
            return {"loss": tf.constant(0.0)}

        def test_step(self, data):
            self.seen["val"].append((self.epochs.count, *keras.utils.unpack_x_y_sample_weight(data)))
            return {"loss": tf.constant(0.0)}

    net = Recorder()
    net.compile(run_eagerly=True)
    return net


def _callback_spy():
    import keras

    class Spy(keras.callbacks.Callback):
        started = False

        def on_train_begin(self, logs=None):
            self.started = True

    return Spy()


def _samples(batches: list, epoch: int = 1) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The (x, y, sample_weight) of one epoch's batches, concatenated."""
    batches = [b[1:] for b in batches if b[0] == epoch] or [b[1:] for b in batches]
    xs = np.concatenate([np.asarray(b[0]) for b in batches])
    ys = np.concatenate([np.asarray(b[1]) for b in batches]) if batches[0][1] is not None else None
    ws = np.concatenate([np.asarray(b[2]) for b in batches]) if batches[0][2] is not None else None
    return xs, ys, ws


def check_fit(fit: Callable) -> Verdict:
    """``fit(net, split, class_weight, callbacks, epochs, batch_size, verbose=2) -> History``:
    one ``net.fit`` that trains on every training face (as ``emotion.to_model_input`` shapes
    it, any dtype with those values), with its own label, in batches of ``batch_size``,
    weighted by ``class_weight``, validated on the validation split (never the test split),
    with the given callbacks and epochs; returns the History. Judged on the batches Keras
    actually feeds the model, so NumPy arrays, a ``tf.data.Dataset``, shuffling or
    ``sample_weight`` equal to the class weights all pass."""
    from aiffel_lib import emotion

    def body(notes: Notes) -> int:
        rng = np.random.default_rng(5)

        def faces(n):
            return rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8), rng.integers(0, 7, size=n)

        (xt, yt), (xv, yv), (xs, ys) = faces(12), faces(4), faces(4)
        split = emotion.Split(xt.copy(), yt.copy(), xv.copy(), yv.copy(), xs.copy(), ys.copy())
        net = _recording_model()
        weights = {k: 1.0 + k / 10 for k in range(7)}
        spy = _callback_spy()
        out = _call(fit, net, split, class_weight=dict(weights), callbacks=[spy], epochs=3, batch_size=4,
                    verbose=0, what="your fit",
                    hints=[(r"batch_size", "a tf.data.Dataset carries its own batch size: .batch(batch_size), "
                                           "and no batch_size= in net.fit"),
                           (r"shape|rank|dimension", "the model takes (N, 48, 48, 1): "
                                                     "emotion.to_model_input(split.x_train)")])
        if not net.fit_calls:
            raise _Mistake("your function never called net.fit", "call net.fit(...) and return what it returns")
        if net.fit_calls > 1:
            raise _Mistake(f"net.fit was called {net.fit_calls} times; call it once with every epoch "
                           "(early stopping and the learning-rate schedule follow one call)")
        if out is not net.history:
            if isinstance(out, dict):
                raise _Mistake("your function returns the dict history.history; return the History itself",
                               "return net.fit(...): emotion.train reads .history from it")
            raise _Mistake("your function returns None, not net.fit's History" if out is None else
                           f"your function returns {type(out).__name__}, not net.fit's History",
                           "return net.fit(...): emotion.train reads the learning curves from it")
        refs = {name: (emotion.to_model_input(x), y) for name, (x, y) in
                {"train": (xt, yt), "validation": (xv, yv), "test": (xs, ys)}.items()}
        _check_validation(net.seen["val"], refs)
        _check_training_batches(net.seen["train"], refs, weights)
        if not spy.started:
            raise _Mistake("the callbacks (early stopping) were not passed", "callbacks=callbacks")
        if net.epochs.count != 3:
            raise _Mistake(f"{net.epochs.count} epochs ran, but the function was asked for 3", "epochs=epochs")
        return 7

    return _verdict("fit", body)


def _key(image: np.ndarray) -> bytes:
    return np.asarray(image, dtype=np.float32).reshape(-1).tobytes()


def _check_training_batches(batches: list, refs: dict, class_weight: dict) -> None:
    if not batches:
        raise _Mistake("net.fit got no training images", "pass them first: net.fit(x, y, ...)")
    x, y, w = _samples(batches)
    sizes = [len(np.asarray(b[1])) for b in batches if b[0] == 1]
    want_x, want_y = refs["train"]
    if x.ndim == 3 and x.shape[1:] == (48, 48):
        raise _Mistake(f"the training images come as (N, {x.shape[1]}, {x.shape[2]}): the channel axis is missing",
                       "the model takes (N, 48, 48, 1) float32: emotion.to_model_input(split.x_train)")
    if x.shape[1:] != (48, 48, 1):
        raise _Mistake(f"the training images come as (N, {', '.join(map(str, x.shape[1:]))}), the model takes "
                       "(N, 48, 48, 1)",
                       "emotion.to_model_input(split.x_train)")
    if y is None:
        raise _Mistake("net.fit got no labels", "net.fit(x, y, ...) with y = split.y_train")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 7:
        raise _Mistake("the labels are one-hot; the model is compiled with sparse_categorical_crossentropy, "
                       "which takes the class numbers", "pass split.y_train as it is")
    seen = {_key(img): k for k, img in enumerate(x)}
    want_keys = {_key(img) for img in want_x}
    for name in ("test", "validation"):
        if sum(_key(img) in seen for img in refs[name][0]) >= len(refs[name][0]) // 2:
            raise _Mistake(f"net.fit trained on the {name} split", "train on split.x_train / split.y_train")
    if x.max() <= 1.0 + 1e-6 and sum(_key(np.round(img * 255)) in want_keys for img in x) >= len(x) // 2:
        raise _Mistake("the pixels were divided by 255", "the model rescales 0..255 itself: "
                       "pass emotion.to_model_input(split.x_train) unchanged")
    want = {_key(img): int(label) for img, label in zip(want_x, want_y)}
    missing = [k for k in want if k not in seen]
    if missing or len(x) != len(want_x):
        if len(x) < len(want_x):
            raise _Mistake(f"net.fit trained on {len(x)} of the {len(want_x)} training faces per epoch",
                           "pass all of split.x_train (validation_split would hold the last rows back)")
        raise _Mistake("the training images are not emotion.to_model_input(split.x_train)",
                       "net.fit(emotion.to_model_input(split.x_train), split.y_train, ...)")
    labels = np.array([want[_key(img)] for img in x])
    if not np.array_equal(np.asarray(y).reshape(-1).astype(np.int64), labels):
        raise _Mistake("the labels do not belong to their images (shuffled separately, or not split.y_train)",
                       "shuffle images and labels together (net.fit(shuffle=True) does it), y = split.y_train")
    if max(sizes) != 4:
        raise _Mistake(f"the model gets batches of {max(sizes)} faces, but the function was asked for batch_size=4",
                       "batch_size=batch_size (or dataset.batch(batch_size))")
    expected_w = np.array([class_weight[int(k)] for k in labels])
    if w is None or np.allclose(w, 1.0):
        raise _Mistake("the class weights were not passed",
                       "class_weight=class_weight: Disgust has ~10x fewer faces than Happy")
    if not np.allclose(np.asarray(w, np.float64).reshape(-1), expected_w, rtol=1e-5):
        raise _Mistake("each face's weight is not the class weight of its label", "class_weight=class_weight")


def _check_validation(batches: list, refs: dict) -> None:
    if not batches:
        raise _Mistake("no validation data: early stopping has nothing to watch",
                       "validation_data=(emotion.to_model_input(split.x_val), split.y_val)")
    vx, vy, _ = _samples(batches)
    keys = {_key(img) for img in vx}
    train_keys = {_key(img) for img in refs["train"][0]}
    if keys and keys <= train_keys:
        raise _Mistake("the validation faces are training faces: validation_split takes the last rows of the "
                       "training data, not the validation split that split_dataset made without leakage",
                       "validation_data=(emotion.to_model_input(split.x_val), split.y_val)")
    if keys == {_key(img) for img in refs["test"][0]}:
        raise _Mistake("the TEST split is used as validation data: early stopping would pick the "
                       "epoch that suits the test faces, so the test accuracy would no longer be honest",
                       "validate on split.x_val / split.y_val; keep the test split for the very end")
    want_x, want_y = refs["validation"]
    want = {_key(img): int(label) for img, label in zip(want_x, want_y)}
    if keys != set(want) or len(vx) != len(want_x):
        raise _Mistake("validation_data is not (emotion.to_model_input(split.x_val), split.y_val)")
    if vy is None or not np.array_equal(np.asarray(vy).reshape(-1).astype(np.int64),
                                        np.array([want[_key(img)] for img in vx])):
        raise _Mistake("the validation labels are not split.y_val for those faces",
                       "validation_data=(emotion.to_model_input(split.x_val), split.y_val)")
