"""Shared helpers for the AIFFEL computer-vision course notebooks.

Modules are named for what they hold; importing the package has no side effects
(and does not import TensorFlow): import the module you need, e.g.

    from aiffel_lib import histsearch
    from aiffel_lib.imagenet import load_imagenet_classifier
"""

__version__ = "0.1.0"
