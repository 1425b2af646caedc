"""CS231n lecture 12, "Visualizing and Understanding", for any Keras 3 classifier.

Every method works on a batch exactly as the model takes it and explains the
*pre-softmax* class score (CS231n's choice: the softmax couples all classes, so
its gradient for one class mostly says "make the others smaller"). One file per concern;
start with ``gradients.py``, whose first function is the whole GradientTape:

- ``scorer.py``     the pre-softmax score of a model (:func:`score_function`, :func:`score_model`)
  and the checks and batching every method starts with;
- ``gradients.py``  :func:`vanilla_saliency` ``|d score / d x|`` (Simonyan et al. 2014),
  :func:`smoothgrad` (Smilkov et al. 2017), :func:`integrated_gradients`
  (Sundararajan et al. 2017), all from :func:`class_score_gradients`;
- ``cam.py``        :func:`grad_cam` (Selvaraju et al. 2017) and :func:`grad_cam_plus_plus`
  (Chattopadhyay et al. 2018): one shared map, two weightings;
- ``occlusion.py``  :func:`occlusion`, the drop in probability under a sliding grey patch
  (Zeiler & Fergus 2014);
- ``generation.py`` :func:`class_visualization` (gradient ascent from noise with L2, jitter
  and blur, CS231n assignment 3) and :func:`fooling_image`, each with a ``step=`` hook;
- ``embeddings.py`` :func:`first_layer_filters`, :func:`penultimate_features`,
  :func:`nearest_neighbours`, :func:`embed_2d`: what the layers see;
- ``methods.py``    every map method by name (:data:`MAP_METHODS`, :func:`compute_maps`) and
  the model-free control :func:`edge_map`;
- ``randomization.py``, ``localisation.py``  the sanity checks: does the map change with the
  model (Adebayo et al. 2018), does it point at the object (Zhang et al. 2016);
- ``images.py``, ``plots.py``  maps made ready to show, test pictures with known answers, figures.

Shapes: ``images`` is ``(N, H, W, C) float32`` in the model's input space (already
preprocessed); ``class_ids`` an int or ``(N,)`` ints; every map is ``(N, H, W) float32``
at input resolution, non-negative, in its method's own units (use :func:`normalize`
to scale each map to [0, 1] for display). ``batch_size`` (images per network call)
defaults to about a million input values: 6 images of 224x224x3, 64 faces of 48x48.

TensorFlow is imported lazily (importing this package is cheap and has no side effects).
"""

from __future__ import annotations

from aiffel_lib.saliency.cam import (find_last_conv_layer, grad_cam, grad_cam_plus_plus,
                                     grad_cam_plus_plus_weights, grad_cam_weights)
from aiffel_lib.saliency.embeddings import embed_2d, first_layer_filters, nearest_neighbours, penultimate_features
from aiffel_lib.saliency.generation import (FoolingResult, class_visualization, class_visualization_update_step,
                                            fooling_image, fooling_step, top1_under_views)
from aiffel_lib.saliency.gradients import (class_score_gradients, input_gradients, integrated_gradients,
                                           smoothgrad, vanilla_saliency)
from aiffel_lib.saliency.images import CHELSEA_CAT_BOX, box_mask, collage, deprocess, letterbox, normalize, overlay
from aiffel_lib.saliency.localisation import (LOCALISATION_CHANCE_FACTOR, LOCALISATION_MASS_FACTOR,
                                              LOCALISATION_MIN_GAIN, centre_prior, localisation_passed,
                                              localisation_scores, localisation_verdict, mass_in_mask, peak,
                                              pointing_game)
from aiffel_lib.saliency.methods import MAP_METHODS, compute_maps, edge_map
from aiffel_lib.saliency.occlusion import occlusion
from aiffel_lib.saliency.plots import OVERLAID, plot_images, plot_maps
from aiffel_lib.saliency.randomization import (RANDOMIZATION_THRESHOLD, RandomizationCheck, randomization_check,
                                               randomize_top_layers, spearman, weighted_layer_names)
from aiffel_lib.saliency.scorer import score_function, score_model

__all__ = [
    # scores
    "score_function", "score_model",
    # gradient maps
    "class_score_gradients", "input_gradients", "vanilla_saliency", "smoothgrad", "integrated_gradients",
    # class activation maps
    "find_last_conv_layer", "grad_cam", "grad_cam_plus_plus", "grad_cam_weights", "grad_cam_plus_plus_weights",
    # perturbation
    "occlusion",
    # images from gradients
    "class_visualization", "class_visualization_update_step", "fooling_image", "fooling_step", "FoolingResult",
    "top1_under_views",
    # what the layers see
    "first_layer_filters", "penultimate_features", "nearest_neighbours", "embed_2d",
    # every method by name
    "MAP_METHODS", "compute_maps", "edge_map",
    # sanity checks: randomisation
    "RANDOMIZATION_THRESHOLD", "RandomizationCheck", "randomization_check", "randomize_top_layers",
    "weighted_layer_names", "spearman",
    # sanity checks: localisation
    "pointing_game", "mass_in_mask", "peak", "centre_prior", "localisation_scores", "localisation_passed",
    "localisation_verdict", "LOCALISATION_CHANCE_FACTOR", "LOCALISATION_MIN_GAIN", "LOCALISATION_MASS_FACTOR",
    # images and figures
    "normalize", "deprocess", "overlay", "letterbox", "box_mask", "collage", "CHELSEA_CAT_BOX",
    "OVERLAID", "plot_maps", "plot_images",
]
