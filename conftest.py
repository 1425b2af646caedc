"""Test-wide rules for both the unit tests and `pytest --nbval notebooks/`.

- Nothing may reach the network: this process and every Python child (notebook
  kernels included) refuse non-loopback connections.
- nbval compares stdout and results, not stderr: TensorFlow and tqdm write
  logs and progress bars there, which differ from run to run.
"""

import os
import sys
import tempfile
from pathlib import Path

_SITE = Path(__file__).parent / "tests" / "offline_site"
sys.path.insert(0, str(_SITE))
import netguard  # noqa: E402

netguard.install()
os.environ["AIFFEL_BLOCK_NETWORK"] = "1"
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_SITE), os.environ.get("PYTHONPATH")]))
# Committed notebook outputs are the offline defaults' outputs: a CIFAR-100 archive or Keras
# weights cached on this machine must not switch a notebook to other data under test.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="aiffel-keras-home-")
# Quieter TensorFlow in kernels and children; results are unaffected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Matplotlib figures must render without a display in kernels and tests.
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collectstart(collector):
    skip = getattr(collector, "skip_compare", None)
    if skip is not None and "stderr" not in skip:
        collector.skip_compare = tuple(skip) + ("stderr",)


# Exercise notebooks are generated with cleared outputs and stubs that raise until a
# learner fills them in: nbval has nothing to compare there. tests/test_exercises.py
# checks they are in sync with the solutions and that their checks catch mistakes.
collect_ignore_glob = ["notebooks/exercises/*"]
