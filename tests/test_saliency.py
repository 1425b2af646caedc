"""aiffel_lib.saliency: every method against an analytic reference on small Keras
models, then the published sanity checks on real networks and real photos.

Part 1 (fast): models whose gradients are known in closed form - a linear
classifier, a ReLU layer, a squaring layer, a 1x1 convolution - and NumPy/SciPy
references computed without TensorFlow's autodiff.

Part 2 (slow, marked): the sanity checks the course shows in notebook 06:
- model-parameter randomisation (Adebayo et al. 2018) on the ImageNet classifier;
- Grad-CAM's peak on the cat in scikit-image's ``chelsea`` photo;
- fooling images with a bounded perturbation;
- localisation on synthetic faces whose expression regions are known.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, spearmanr

from aiffel_lib import saliency as S
from aiffel_lib.saliency import gradients

keras = pytest.importorskip("keras")


# --------------------------------------------------------------------------- small models

def linear_classifier(h=6, w=7, c=3, k=4, softmax="dense", seed=0):
    """Flatten -> Dense(k); the softmax either inside the Dense or as its own layer."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c))
    flat = keras.layers.Flatten()(inp)
    if softmax == "dense":
        out = keras.layers.Dense(k, activation="softmax")(flat)
    elif softmax == "layer":
        out = keras.layers.Softmax()(keras.layers.Dense(k)(flat))
    else:  # already linear scores
        out = keras.layers.Dense(k)(flat)
    model = keras.Model(inp, out)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][0]
    bias = np.random.default_rng(seed).normal(size=k).astype(np.float32)
    dense.set_weights([dense.get_weights()[0], bias])
    return model, dense.get_weights()[0], bias


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("softmax", ["dense", "layer", "none"])
def test_scores_are_the_pre_softmax_logits(softmax, rng):
    model, W, b = linear_classifier(softmax=softmax)
    x = rng.normal(size=(5, 6, 7, 3)).astype(np.float32)
    f = S.score_function(model)
    np.testing.assert_allclose(f(x), x.reshape(5, -1) @ W + b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("softmax", ["dense", "layer"])
def test_vanilla_saliency_of_a_linear_model_is_abs_weights_max_over_channels(softmax, rng):
    model, W, _ = linear_classifier(softmax=softmax)
    x = rng.normal(size=(5, 6, 7, 3)).astype(np.float32)
    cls = np.array([0, 1, 2, 3, 1])
    expected = np.abs(W[:, cls].T.reshape(5, 6, 7, 3)).max(axis=-1)
    np.testing.assert_allclose(S.vanilla_saliency(model, x, cls), expected, rtol=1e-6)
    # one int for the whole batch
    np.testing.assert_allclose(S.vanilla_saliency(model, x, 2),
                               np.repeat(np.abs(W[:, 2]).reshape(1, 6, 7, 3).max(-1), 5, axis=0), rtol=1e-6)


def relu_model(h=5, w=6, k=3, seed=1):
    """x -> ReLU -> Flatten -> Dense(k): d score_c / d x_i = W[i, c] * [x_i > 0]."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, 1))
    out = keras.layers.Dense(k, activation="softmax")(keras.layers.Flatten()(keras.layers.ReLU()(inp)))
    model = keras.Model(inp, out)
    return model, model.layers[-1].get_weights()[0]


def test_smoothgrad_matches_the_gaussian_expectation_of_a_relu_gradient(rng):
    # E[W * 1(x + e > 0)] = W * Phi(x / sigma): SmoothGrad's mean gradient in closed form.
    model, W = relu_model()
    x = rng.normal(size=(2, 5, 6, 1)).astype(np.float32)
    cls = np.array([0, 2])
    sigma_frac, n = 0.3, 1200
    got = S.smoothgrad(model, x, cls, n=n, sigma=sigma_frac, batch_size=256, seed=3)
    span = x.reshape(2, -1).max(1) - x.reshape(2, -1).min(1)
    sigma = sigma_frac * span[:, None, None]
    expected = np.abs(W[:, cls].T.reshape(2, 5, 6) * norm.cdf(x[..., 0] / sigma))
    # Monte-Carlo error of a mean of n Bernoulli draws: <= 0.5 / sqrt(n) ~ 0.014 (x |W|); 4 sigma.
    assert np.abs(got - expected).max() <= 4 * 0.5 / np.sqrt(n) * np.abs(W).max()
    # n=1 without noise is exactly the vanilla map
    np.testing.assert_allclose(S.smoothgrad(model, x, cls, n=1, sigma=0.0), S.vanilla_saliency(model, x, cls))


def test_smoothgrad_is_batched_not_one_image_at_a_time(rng, monkeypatch):
    model, _ = relu_model()
    x = rng.normal(size=(3, 5, 6, 1)).astype(np.float32)
    sizes = []
    original = gradients._gradients  # one compiled gradient call per batch

    def spy(scorer, xb, cb):
        sizes.append(int(xb.shape[0]))
        return original(scorer, xb, cb)

    monkeypatch.setattr(gradients, "_gradients", spy)
    S.smoothgrad(model, x, 0, n=20, batch_size=32)
    assert sum(sizes) == 60 and sizes[0] == 32 and len(sizes) == 2


def square_model(h=4, w=5, c=2, k=3, seed=2):
    """score_c = sum_i W[i, c] x_i**2 (+ b): integrated gradients from 0 are W[i, c] x_i**2 exactly."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c))
    sq = keras.layers.Multiply()([inp, inp])
    out = keras.layers.Dense(k, activation="softmax")(keras.layers.Flatten()(sq))
    model = keras.Model(inp, out)
    return model, model.layers[-1].get_weights()[0]


def test_integrated_gradients_of_a_quadratic_equal_the_closed_form(rng):
    model, W = square_model()
    x = rng.normal(size=(3, 4, 5, 2)).astype(np.float32)
    cls = np.array([0, 1, 2])
    attr = S.integrated_gradients(model, x, cls, baseline=0.0, steps=8, signed=True)
    # The path gradient is linear in alpha, so the trapezoid rule is exact.
    expected = (W[:, cls].T.reshape(3, 4, 5, 2) * x ** 2).sum(axis=-1)
    np.testing.assert_allclose(attr, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(S.integrated_gradients(model, x, cls, steps=8), np.abs(expected), rtol=1e-4, atol=1e-5)


def test_integrated_gradients_completeness_on_a_small_cnn(rng):
    keras.utils.set_random_seed(3)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(8, 3, activation="tanh")(inp)
    h = keras.layers.Conv2D(8, 3, activation="softplus")(h)
    out = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, out)
    x = rng.normal(size=(4, 12, 12, 3)).astype(np.float32)
    base = np.full((12, 12, 3), 0.25, np.float32)
    cls = np.array([0, 1, 3, 4])
    attr = S.integrated_gradients(model, x, cls, baseline=base, steps=64, signed=True)
    f = S.score_function(model)
    gap = f(x)[np.arange(4), cls] - f(np.repeat(base[None], 4, axis=0))[np.arange(4), cls]
    # completeness: attributions add up to score(x) - score(baseline) (Sundararajan et al. 2017)
    np.testing.assert_allclose(attr.sum(axis=(1, 2)), gap, rtol=2e-3, atol=2e-3 * np.abs(gap).max())


def conv1x1_model(h=6, w=6, c=3, k=4, classes=3, seed=4):
    """1x1 conv (linear, no bias) -> ReLU -> GAP -> Dense: Grad-CAM = ReLU(sum_k W[k, c] A_k) / (h w)."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((h, w, c))
    a = keras.layers.ReLU(name="acts")(keras.layers.Conv2D(k, 1, use_bias=False, name="conv")(inp))
    out = keras.layers.Dense(classes, activation="softmax")(keras.layers.GlobalAveragePooling2D()(a))
    model = keras.Model(inp, out)
    return model, model.get_layer("conv").get_weights()[0][0, 0], model.layers[-1].get_weights()[0]


def test_grad_cam_equals_the_class_activation_map_of_a_gap_network(rng):
    model, Wc, Wd = conv1x1_model()
    x = rng.normal(size=(3, 6, 6, 3)).astype(np.float32)
    cls = np.array([0, 2, 1])
    assert S.find_last_conv_layer(model) == "acts"
    acts = np.maximum(x @ Wc, 0.0)  # (3, 6, 6, k), the 1x1 convolution by hand
    expected = np.maximum(np.einsum("nhwk,kn->nhw", acts, Wd[:, cls]) / 36.0, 0.0)
    np.testing.assert_allclose(S.grad_cam(model, x, cls), expected, rtol=1e-5, atol=1e-7)
    # Grad-CAM++ on a GAP head: alpha = 1 / (2 + sum(A_k) * g_k) with g_k = W[k, c] / (h w)
    g = Wd[:, cls].T / 36.0  # (3, k)
    s = acts.sum(axis=(1, 2))
    denom = 2 * g ** 2 + s * g ** 3
    alpha = np.where(denom != 0, g ** 2 / np.where(denom != 0, denom, 1), 0)
    wpp = 36.0 * alpha * np.maximum(g, 0)
    expected_pp = np.maximum(np.einsum("nhwk,nk->nhw", acts, wpp), 0)
    np.testing.assert_allclose(S.grad_cam_plus_plus(model, x, cls), expected_pp, rtol=1e-4, atol=1e-6)
    # the older spelling gives the same maps
    np.testing.assert_array_equal(S.grad_cam(model, x, cls, plus_plus=True), S.grad_cam_plus_plus(model, x, cls))


def test_grad_cam_is_resized_to_the_input():
    keras.utils.set_random_seed(5)
    inp = keras.Input((16, 16, 3))
    a = keras.layers.Conv2D(4, 3, strides=4, padding="same", activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(a)))
    maps = S.grad_cam(model, np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32), [0, 1])
    assert maps.shape == (2, 16, 16) and maps.dtype == np.float32 and (maps >= 0).all()


def test_occlusion_of_a_linear_model_equals_a_brute_force_loop(rng):
    model, W, b = linear_classifier(h=6, w=7, c=3, softmax="none")
    x = rng.normal(size=(2, 6, 7, 3)).astype(np.float32)
    cls = np.array([1, 3])
    got = S.occlusion(model, x, cls, patch=3, stride=2, fill=0.5, probability=False, batch_size=5)
    expected = np.zeros((2, 6, 7))
    for n in range(2):
        w = W[:, cls[n]].reshape(6, 7, 3)
        drop, count = np.zeros((6, 7)), np.zeros((6, 7))
        for y in (0, 2, 3):          # 0, 2 and the last start 6-3 = 3 so every row is covered
            for xx in (0, 2, 4):     # 7-3 = 4 is already on the stride grid
                d = (w[y:y + 3, xx:xx + 3] * (x[n, y:y + 3, xx:xx + 3] - 0.5)).sum()
                drop[y:y + 3, xx:xx + 3] += d
                count[y:y + 3, xx:xx + 3] += 1
        expected[n] = np.maximum(drop / count, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_fooling_a_linear_model_takes_the_predicted_number_of_steps(rng):
    model, W, b = linear_classifier(softmax="dense")
    x = rng.normal(size=(6, 7, 3)).astype(np.float32)
    scores = x.reshape(-1) @ W + b
    target = int(np.argsort(scores)[0])  # the least likely class
    lr = 0.3
    # Each step adds lr * w_t / ||w_t|| (the gradient of a linear score is constant).
    step = lr * W[:, target] / np.linalg.norm(W[:, target])
    k = next(k for k in range(1000) if ((x.reshape(-1) + k * step) @ W + b).argmax() == target)
    result = S.fooling_image(model, x, target, lr=lr, max_steps=1000)
    assert result.steps == k
    np.testing.assert_allclose(result.image.reshape(-1), x.reshape(-1) + k * step, rtol=1e-4, atol=1e-4)
    with pytest.raises(RuntimeError, match="max_steps"):
        S.fooling_image(model, x, target, lr=lr, max_steps=k - 1)


def test_class_visualization_climbs_towards_the_class_weights():
    model, W, _ = linear_classifier(h=8, w=8, c=3, softmax="dense")
    img = S.class_visualization(model, 2, value_range=(-50, 50), iterations=60, lr=1.0,
                                max_jitter=0, blur_every=0, l2_reg=1e-3, init_range=0.001)
    # from (almost) zero with no jitter, blur or clipping, the ascent direction is the constant
    # w_2 minus the small L2 pull, so the result lines up with w_2 (the class' weight image)
    cos = img.reshape(-1) @ W[:, 2] / (np.linalg.norm(img) * np.linalg.norm(W[:, 2]))
    assert cos > 0.9
    scores = S.score_function(model)(img[None])[0]
    assert scores.argmax() == 2
    # with the assignment's jitter and blur it still finds the class and stays in range
    img2 = S.class_visualization(model, 1, value_range=(-1, 1), iterations=30, lr=2.0, max_jitter=2)
    assert img2.shape == (8, 8, 3) and img2.min() >= -1 and img2.max() <= 1
    assert S.score_function(model)(img2[None])[0].argmax() == 1


def test_class_visualization_update_step_is_cs231ns_normalised_step():
    rng = np.random.default_rng(7)
    image = rng.normal(size=(4, 5, 3)).astype(np.float32)
    grad = rng.normal(size=(4, 5, 3)).astype(np.float32)
    got = S.class_visualization_update_step(image, grad, l2_reg=0.1, learning_rate=2.0)
    d = grad.astype(np.float64) - 0.2 * image  # the L2 penalty's gradient is -2 * l2_reg * image
    np.testing.assert_allclose(got, image + 2.0 * d / np.linalg.norm(d), rtol=1e-5, atol=1e-6)


def test_class_visualization_runs_the_step_it_is_given():
    model, W, _ = linear_classifier(h=8, w=8, c=3, softmax="dense")
    settings = dict(value_range=(-2, 2), iterations=5, lr=0.5, max_jitter=1, blur_every=2, seed=3)
    default = S.class_visualization(model, 2, **settings)
    # the default step, passed by hand: the very same image
    np.testing.assert_array_equal(S.class_visualization(model, 2, step=S.class_visualization_update_step,
                                                        **settings), default)
    calls = []

    def stay(image, grad, l2_reg, learning_rate):
        calls.append((image.shape, grad.shape, l2_reg, learning_rate))
        return image

    start = S.class_visualization(model, 2, **{**settings, "iterations": 0, "blur_every": 0})
    kept = S.class_visualization(model, 2, step=stay, **{**settings, "blur_every": 0})
    assert calls == [((8, 8, 3), (8, 8, 3), 1e-3, 0.5)] * 5
    np.testing.assert_allclose(kept, start, atol=1e-6)  # a step that does not move leaves the noise


def test_penultimate_features_and_first_layer_filters(rng):
    keras.utils.set_random_seed(6)
    inp = keras.Input((5, 5, 3))
    conv = keras.layers.Conv2D(4, 3, name="first")(inp)
    hidden = keras.layers.Dense(6, activation="relu")(keras.layers.Flatten()(conv))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(hidden))
    x = rng.normal(size=(3, 5, 5, 3)).astype(np.float32)
    k, bias = model.get_layer("first").get_weights()
    # the convolution by hand: a 3x3 valid conv of a 5x5 image has 3x3 outputs
    acts = np.stack([[[np.tensordot(img[i:i + 3, j:j + 3], k, axes=3) + bias for j in range(3)]
                      for i in range(3)] for img in x])
    w1, b1 = model.layers[-2].get_weights()
    hidden_ref = np.maximum(acts.reshape(3, -1) @ w1 + b1, 0)
    np.testing.assert_allclose(S.penultimate_features(model, x), hidden_ref, rtol=1e-4, atol=1e-5)
    # with the softmax as its own layer (as the ImageNet classifier): still the classifier's input,
    # not the logits
    logits = keras.layers.Dense(2)(hidden)
    model2 = keras.Model(inp, keras.layers.Softmax()(logits))
    np.testing.assert_allclose(S.penultimate_features(model2, x), hidden_ref, rtol=1e-4, atol=1e-5)
    filters = S.first_layer_filters(model)
    assert filters.shape == (4, 3, 3, 3) and filters.min() == 0 and np.allclose(filters.max(axis=(1, 2, 3)), 1)
    kk = np.moveaxis(k, -1, 0)
    assert spearmanr(filters[1].ravel(), kk[1].ravel())[0] == pytest.approx(1.0)


def test_spearman_matches_scipy(rng):
    a = rng.normal(size=(4, 5, 6))
    b = a + rng.normal(size=(4, 5, 6))
    b[0] = np.round(b[0])  # ties get average ranks, as in scipy
    expected = [spearmanr(a[i].ravel(), b[i].ravel())[0] for i in range(4)]
    np.testing.assert_allclose(S.spearman(a, b), expected, rtol=1e-10)


def test_pointing_game_and_mass_in_mask():
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 1] = 5
    maps[1, 3, 0] = 5
    maps[2] = 1.0  # flat: the pixel nearest the centre is the peak (in the mask); fraction = area
    masks = np.zeros((3, 4, 4), bool)
    masks[:, :2, :2] = True
    np.testing.assert_array_equal(S.pointing_game(maps, masks), [True, False, True])
    np.testing.assert_allclose(S.mass_in_mask(maps, masks), [1.0, 0.0, 0.25])
    # a plateau (an occlusion square) points with its centre, not its first pixel
    plateau = np.zeros((1, 4, 4))
    plateau[0, 1:4, 0:2] = 1.0
    assert S.peak(plateau) == [(2, 0)]
    assert not S.pointing_game(plateau, masks[:1])[0]


def test_localisation_verdict_separates_chance_place_and_face():
    base = dict(area=0.1, mass_other=0.1)
    assert S.localisation_verdict({**base, "pointing": 0.6, "pointing_other": 0.3, "mass": 0.3}) == "pass"
    # hits where expressions usually are, as well on another face: above chance only
    assert S.localisation_verdict({**base, "pointing": 0.6, "pointing_other": 0.55, "mass": 0.3}) == "above chance"
    assert S.localisation_verdict({**base, "pointing": 0.6, "pointing_other": 0.1, "mass": 0.12}) == "FAIL"
    assert S.localisation_verdict({**base, "pointing": 0.2, "pointing_other": 0.0, "mass": 0.5}) == "FAIL"


def test_edge_map_ignores_the_model_and_finds_a_step_edge():
    img = np.zeros((1, 10, 12, 3), np.float32)
    img[:, :, 6:] = 1.0
    edges = S.edge_map(img)
    assert edges.shape == (1, 10, 12)
    assert set(np.flatnonzero(edges[0, 5] == edges[0, 5].max())) == {5, 6}


def test_randomize_top_layers_keeps_the_rest_and_leaves_the_original_alone(rng):
    model, _, _ = conv1x1_model()
    before = [w.copy() for w in model.get_weights()]
    fresh = S.randomize_top_layers(model, 1, seed=0)
    assert S.weighted_layer_names(model)[0] == model.layers[-1].name
    np.testing.assert_array_equal(fresh.get_layer("conv").get_weights()[0], model.get_layer("conv").get_weights()[0])
    assert not np.allclose(fresh.layers[-1].get_weights()[0], model.layers[-1].get_weights()[0])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="n_layers"):
        S.randomize_top_layers(model, 3)


def test_bad_inputs_say_what_to_do(rng):
    model, _, _ = linear_classifier()
    with pytest.raises(ValueError, match="preprocess"):
        S.vanilla_saliency(model, np.zeros((1, 6, 7, 3), np.uint8), 0)
    with pytest.raises(ValueError, match=r"images\[None\]"):
        S.vanilla_saliency(model, np.zeros((6, 7, 3), np.float32), 0)
    with pytest.raises(ValueError, match="one int or 2 ints"):
        S.grad_cam(conv1x1_model()[0], np.zeros((2, 6, 6, 3), np.float32), [0, 1, 2])
    with pytest.raises(ValueError, match="patch"):
        S.occlusion(model, np.zeros((1, 6, 7, 3), np.float32), 0, patch=10)


# --------------------------------------------------------------------------- sanity checks (slow)
# The same checks notebook 06 shows (aiffel_lib.saliency.randomization_check, localisation_scores, ...),
# with cheaper settings.

CAT_CLASSES = (281, 282, 283, 284, 285)  # tabby, tiger cat, Persian cat, Siamese cat, Egyptian cat
#: Fooling-image bound, in 0..255 pixel levels: no pixel may change by more than 16 levels
#: (the L-infinity budget common in the adversarial-example literature, ~6 % of the range)
#: and the mean change stays under one level.
FOOLING_MAX_LEVELS = 16.0


@pytest.fixture(scope="module")
def imagenet():
    from aiffel_lib.imagenet import load_imagenet_classifier

    return load_imagenet_classifier("efficientnet_lite0")


@pytest.fixture(scope="module")
def randomization(imagenet):
    from aiffel_lib import photos

    x = imagenet.preprocess([photos.load_photo(n) for n in ("chelsea", "coffee", "rocket")])
    cls = imagenet.predict_preprocessed(x).argmax(axis=1)
    # Cheaper settings than the notebook's (fewer noisy copies and path steps, a coarser
    # occlusion grid): the maps are noisier but the check is the same.
    return S.randomization_check(imagenet.model, x, cls, n_layers=3, smoothgrad_n=12, ig_steps=16,
                                 occlusion_patch=32, occlusion_stride=32)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["vanilla", "SmoothGrad", "integrated gradients", "Grad-CAM", "occlusion"])
def test_maps_change_when_the_top_layers_are_reinitialised(randomization, method):
    rho = randomization.rho[method]
    assert randomization.layers == ["logits", "head_bn", "head_conv"]
    assert np.nanmean(rho) < S.RANDOMIZATION_THRESHOLD, randomization.table()


@pytest.mark.slow
def test_the_randomisation_check_fails_a_map_that_ignores_the_model(randomization):
    # Adebayo et al.'s warning: an edge detector looks like a saliency map but never
    # looks at the model, so its maps are identical (rho = 1) - the check must reject it.
    np.testing.assert_allclose(randomization.rho["edge detector"], 1.0)
    assert not randomization.passed()["edge detector"]
    # Grad-CAM++ (as published and commonly implemented) fails too on this network: after a
    # global-average-pooling head the gradient is the same at every position, so its weights
    # reduce to ReLU(w_kc) / (2 + sum(A_k) w_kc / hw) - mostly "which channels are active",
    # barely which class. Plain Grad-CAM keeps the sign of w_kc and passes.
    assert np.nanmean(randomization.rho["Grad-CAM++"]) > S.RANDOMIZATION_THRESHOLD


@pytest.mark.slow
def test_grad_cam_peak_on_chelsea_lies_on_the_cat(imagenet):
    from aiffel_lib import photos

    photo = photos.load_photo("chelsea")
    # The whole photo (not the classifier's centre crop, which is all cat): the background
    # right of the cat stays in the picture, so a wrong map can point at it.
    square, transform = S.letterbox(photo, imagenet.input_size)
    cat = S.box_mask(S.CHELSEA_CAT_BOX, transform, imagenet.input_size)
    inside_photo = S.box_mask((0, 0, photo.shape[1], photo.shape[0]), transform, imagenet.input_size)
    assert 0.4 < cat.mean() < 0.55 and cat.sum() < 0.75 * inside_photo.sum()
    x = imagenet.scale(square)[None]
    probs = imagenet.predict_preprocessed(x)[0]
    assert probs.argmax() in CAT_CLASSES
    for c in CAT_CLASSES[:3] + (285,):
        (r, col), = S.peak(S.grad_cam(imagenet.model, x, c))
        assert cat[r, col], f"class {imagenet.labels[c]}: Grad-CAM peak at row {r}, column {col} is off the cat"


@pytest.mark.slow
def test_grad_cam_finds_each_object_of_a_collage(imagenet):
    from aiffel_lib import photos

    names = ("chelsea", "coffee", "rocket", "flower")
    square, boxes = S.collage([photos.load_photo(n) for n in names])
    x = imagenet.scale(square)[None]
    # Ask, in the collage, for the class the network gives each photo on its own: its
    # Grad-CAM peak must fall in that photo's tile (chance: 1 in 4 per photo).
    for tile, name in enumerate(names):
        c = int(imagenet.predict(photos.load_photo(name)).argmax())
        (r, col), = S.peak(S.grad_cam(imagenet.model, x, c))
        x0, y0, x1, y1 = boxes[tile]
        assert x0 <= col < x1 and y0 <= r < y1, f"{imagenet.labels[c]}: peak ({r}, {col}) not in the {name} tile"


@pytest.mark.slow
def test_fooling_images_reach_the_target_with_an_invisible_change(imagenet):
    from aiffel_lib import photos

    x = imagenet.preprocess(photos.load_photo("chelsea"))
    valid = ((0 - imagenet.mean) / imagenet.std, (255 - imagenet.mean) / imagenet.std)
    assert imagenet.predict_preprocessed(x[None])[0].argmax() in CAT_CLASSES
    for target in (1, 130, 407):  # goldfish, flamingo, ambulance
        fooled, steps = S.fooling_image(imagenet.model, x, target, value_range=valid)
        assert imagenet.predict_preprocessed(fooled[None])[0].argmax() == target
        levels = np.abs(fooled - x) * imagenet.std  # back to 0..255 pixel levels
        assert 0 < steps <= 100
        assert levels.max() < FOOLING_MAX_LEVELS, f"{imagenet.labels[target]}: max change {levels.max():.1f} levels"
        assert levels.mean() < 1.0


def small_expression_cnn(seed: int = 0):
    """A small CNN with Face2Emoji's interface: (N, 48, 48, 1) float32 gray 0..255 ->
    7 softmax probabilities, a "logits" Dense before the softmax, a 12x12 last feature map.

    Face2Emoji itself (MobileNetV2 from scratch) needs minutes of CPU to learn the synthetic
    faces; this network learns them in seconds, which is what a unit test can afford.
    Notebook 06 runs the same check on the real Face2Emoji model.
    """
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    inp = keras.Input((48, 48, 1))
    h = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    for filters, pool in ((16, True), (32, True), (64, False), (64, False)):
        h = layers.Conv2D(filters, 3, padding="same", use_bias=False)(h)
        h = layers.ReLU()(layers.BatchNormalization()(h))
        if pool:
            h = layers.MaxPooling2D()(h)
    h = layers.Dense(7, name="logits")(layers.GlobalAveragePooling2D()(h))
    return keras.Model(inp, layers.Activation("softmax", name="probabilities")(h))


@pytest.fixture(scope="module")
def expression_model():
    from aiffel_lib import synthfaces

    train = synthfaces.make_faces(FACE_TRAIN, seed=1, class_freq="uniform")
    model = small_expression_cnn()
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(train.images[..., None].astype(np.float32), train.labels, batch_size=32, epochs=FACE_EPOCHS,
              verbose=0)
    test = synthfaces.make_faces(120, seed=2, class_freq="uniform")  # faces it never saw
    x = test.images[..., None].astype(np.float32)
    accuracy = float((S.score_function(model)(x).argmax(axis=1) == test.labels).mean())
    maps = S.compute_maps(model, x, test.labels, smoothgrad_n=16, ig_steps=16, occlusion_patch=8,
                          occlusion_stride=4)
    return accuracy, S.localisation_scores(maps, test.masks), test.masks


# ~45 s of CPU; the model reaches ~0.7 accuracy on new faces (chance 0.14).
FACE_TRAIN, FACE_EPOCHS = 3000, 6


@pytest.mark.slow
@pytest.mark.parametrize("method", list(S.MAP_METHODS))
def test_maps_point_at_the_expression_regions_of_synthetic_faces(expression_model, method):
    accuracy, scores, _ = expression_model
    assert accuracy > 0.3, "the test model did not learn the expressions (chance is 1/7)"
    s = scores[method]
    # Pointing game over 120 faces: the map's peak lies in the mouth/brows/eyes masks at
    # least 3x as often as a random pixel would (the masks' area, ~11 %) ...
    assert s["pointing"] >= S.LOCALISATION_CHANCE_FACTOR * s["area"], scores
    # ... and clearly more often in its own face's masks than in another face's: the
    # synthetic faces sit in similar places, so a fixed "look at the eyes" guess also
    # scores well - but equally well on any face.
    assert s["pointing"] - s["pointing_other"] >= S.LOCALISATION_MIN_GAIN, scores
    assert S.localisation_passed(s)
    # and more of the map's mass lies inside the masks than their area (chance)
    assert s["mass"] >= S.LOCALISATION_MASS_FACTOR * s["area"], scores
    assert S.localisation_verdict(s) == "pass"


@pytest.mark.slow
def test_the_localisation_check_rejects_maps_that_know_nothing(expression_model):
    _, scores, masks = expression_model
    controls = {"random": np.random.default_rng(0).random(masks.shape).astype(np.float32),
                "centre prior": S.centre_prior(len(masks), 48, 48)}
    for name, s in S.localisation_scores(controls, masks).items():
        assert not S.localisation_passed(s), (name, s)
        assert S.localisation_verdict(s) != "pass", (name, s)
    # The centre prior hits the masks surprisingly often (the eyes and brows are near the
    # middle of most faces) - but exactly as often on any other face.
    centre = S.localisation_scores(controls, masks)["centre prior"]
    assert centre["pointing"] == centre["pointing_other"]
    # The edge detector does localise: the drawn mouth, brows and eyes are edges of *this*
    # face. Localisation alone cannot reject it; the randomisation check does (above).
    assert S.localisation_passed(scores["edge detector"])
