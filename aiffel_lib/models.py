"""The former name of :mod:`aiffel_lib.imagenet` (the offline ImageNet classifier).

``import aiffel_lib.models`` gives the very same module object, so every name (and every
monkeypatch) is shared, and ``python -m aiffel_lib.models`` still runs its command line.
Kept only while notebooks 03 and 06 and html/js/classify.js still say ``models``.
"""

import sys

from aiffel_lib import imagenet

if __name__ == "__main__":
    raise SystemExit(imagenet.main())
sys.modules[__name__] = imagenet
