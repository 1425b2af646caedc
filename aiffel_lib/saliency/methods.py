"""Every map method by name, for running them side by side: :data:`MAP_METHODS`, :func:`compute_maps`.

Also the control the sanity checks need: :func:`edge_map`, a "saliency map" that never
looks at the model.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from aiffel_lib.saliency.cam import grad_cam, grad_cam_plus_plus
from aiffel_lib.saliency.gradients import integrated_gradients, smoothgrad, vanilla_saliency
from aiffel_lib.saliency.occlusion import occlusion

#: The map methods of :func:`compute_maps` and the sanity checks, in display order
#: (``"edge detector"`` is the model-free control, added by ``edge=True``).
MAP_METHODS = ("vanilla", "SmoothGrad", "integrated gradients", "Grad-CAM", "Grad-CAM++", "occlusion")


def edge_map(images: Any) -> np.ndarray:
    """Sobel gradient magnitude of each image, max over channels: a "saliency map" that
    ignores the model entirely (Adebayo et al.'s warning example).

    images: (N, H, W, C) float. Returns (N, H, W) float32.
    """
    import cv2

    x = np.asarray(images, np.float32)
    out = np.empty(x.shape[:3], np.float32)
    for i, img in enumerate(x):
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.sqrt(gx ** 2 + gy ** 2)
        out[i] = mag.max(axis=-1) if mag.ndim == 3 else mag
    return out


def compute_maps(model: Any, images: Any, class_ids: Any, methods: Iterable[str] = MAP_METHODS,
                 smoothgrad_n: int = 25, ig_steps: int = 32, occlusion_patch: int | None = None,
                 occlusion_stride: int | None = None, grad_cam_layer: str | None = None,
                 edge: bool = True) -> dict[str, np.ndarray]:
    """Every method's maps for the same batch: name -> (N, H, W) float32.

    methods: names from :data:`MAP_METHODS`; edge: add the model-free "edge detector" control.
    smoothgrad_n, ig_steps, occlusion_patch, occlusion_stride: the methods' cost knobs
    (fewer copies/steps, a larger stride = faster and coarser; defaults as the functions').
    grad_cam_layer: the layer Grad-CAM(++) explains (default: the last conv layer).
    """
    table = {
        "vanilla": lambda: vanilla_saliency(model, images, class_ids),
        "SmoothGrad": lambda: smoothgrad(model, images, class_ids, n=smoothgrad_n),
        "integrated gradients": lambda: integrated_gradients(model, images, class_ids, steps=ig_steps),
        "Grad-CAM": lambda: grad_cam(model, images, class_ids, layer=grad_cam_layer),
        "Grad-CAM++": lambda: grad_cam_plus_plus(model, images, class_ids, layer=grad_cam_layer),
        "occlusion": lambda: occlusion(model, images, class_ids, patch=occlusion_patch, stride=occlusion_stride),
    }
    unknown = [m for m in methods if m not in table]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(table)}")
    out = {m: table[m]() for m in methods}
    if edge:
        out["edge detector"] = edge_map(images)
    return out
