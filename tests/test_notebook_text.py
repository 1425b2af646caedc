"""The notebooks' prose agrees with their code and outputs, so stale text fails.

Three kinds of claims are checked where a machine can check them:
- an introduction that lists the notebook's sections lists all of them, in order;
- "section N" points at an existing section, and at the right one where the topic is known;
- figures quoted in markdown match the output (or the code) they describe.
Exact figures that vary by machine sit in NBVAL_IGNORE_OUTPUT cells; the prose about them
is compared with the committed run, so re-executing a notebook without updating its text fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
FENCE = re.compile(r"```.*?```", re.S)


def load(stem: str) -> dict:
    path = NOTEBOOKS / f"{stem}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this checkout")
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def markdown(nb: dict) -> list[str]:
    return [text(c) for c in nb["cells"] if c["cell_type"] == "markdown"]


def code(nb: dict) -> str:
    return "\n".join(text(c) for c in nb["cells"] if c["cell_type"] == "code")


def outputs(nb: dict) -> str:
    """All text outputs of the notebook (stdout and plain-text results), in order."""
    parts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                parts.append("".join(out["text"]))
            elif "text/plain" in out.get("data", {}):
                parts.append("".join(out["data"]["text/plain"]))
    return "\n".join(parts)


def headings(nb: dict) -> dict[int, str]:
    """Numbered sections: {2: "HSV, and OpenCV's hue scale", ...} from '## 2. ...' headings."""
    found = {}
    for md in markdown(nb):
        for number, title in re.findall(r"^##\s+(\d+)\.\s+(.+)$", FENCE.sub("", md), re.M):
            assert int(number) not in found, f"two sections numbered {number}"
            found[int(number)] = title.strip()
    return found


def one(pattern: str, haystack: str, what: str) -> re.Match:
    hits = list(re.finditer(pattern, haystack, re.M | re.S))
    assert len(hits) == 1, f"{what}: expected one match of {pattern!r}, found {len(hits)}"
    return hits[0]


# ------------------------------------------------------------------ introductions and sections
# Notebooks whose introduction is a plan of the sections (a numbered list or a table of parts).
# Other introductions list other things (02: the course's four functions; 04: what was missing).
SECTION_PLANS = {
    "03_imagenet_classifier": "list",
    "05_export_tfjs": "list",
    "06_visualizing_cnns": "table",
}


@pytest.mark.parametrize("stem", sorted(SECTION_PLANS))
def test_introduction_lists_every_section(stem):
    nb = load(stem)
    intro = FENCE.sub("", markdown(nb)[0])
    if SECTION_PLANS[stem] == "list":
        items = [int(n) for n in re.findall(r"^\s*(\d+)\.\s", intro, re.M)]
    else:
        items = [int(n) for n in re.findall(r"^\|\s*(\d+)\s*\|", intro, re.M)]
    sections = sorted(n for n in headings(nb) if n >= 1)
    assert items == sections, (f"the introduction lists parts {items}, the notebook has sections {sections}: "
                               "update the list when sections are added or removed")


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_section_references_exist(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    sections = headings(nb)
    for md in markdown(nb):
        for number in re.findall(r"\b[Ss]ection (\d+)\b", FENCE.sub("", md)):
            assert int(number) in sections, f"'section {number}' does not exist (sections: {sorted(sections)})"


# (notebook, a phrase next to the reference, the word its section's title must contain)
TOPICAL_REFERENCES = [
    ("01_color_masking", r"The desktop loop itself is .*?\(section (\d+)\)", "desktop loop"),
    ("02_histogram_search", r"look at the `kl_div` scores in section (\d+)", "HistogramIndex"),
]


@pytest.mark.parametrize("stem,pattern,topic", TOPICAL_REFERENCES, ids=[r[0] for r in TOPICAL_REFERENCES])
def test_section_references_point_at_their_topic(stem, pattern, topic):
    nb = load(stem)
    number = int(one(pattern, "\n".join(markdown(nb)), stem).group(1))
    title = headings(nb).get(number, "")
    assert topic.lower() in title.lower(), f"'section {number}' is '{title}', not the {topic!r} section"


# ------------------------------------------------------------------ quoted figures
def _float(s: str) -> float:
    return float(s.replace(",", ""))


# (notebook, regex on the markdown, where ("output" or "code"), regex there, check(md, there), what)
QUOTES = [
    ("01_color_masking", r"the course's range (\d+)–(\d+) means", "output",
     r"pure blue -> \[\(\((\d+), 50, 50\), \((\d+), 255, 255\)\)\]",
     lambda m, o: m.groups() == o.groups(), "the blue hue range"),
    ("02_histogram_search", r"embedded stand-in: ([\d,]+) crops", "output", r"(\d+) PNG files in",
     lambda m, o: _float(m[1]) == _float(o[1]), "the size of the offline gallery"),
    ("02_histogram_search", r"about (four in five) of the top 5 come from the right photo", "output",
     r"course setting \(chisqr, 4 bins\): (0\.\d+)",
     lambda m, o: 0.75 <= float(o[1]) < 0.85, "precision@5 of the course's setting ('four in five')"),
    ("02_histogram_search", r"Averaged over (\d+) queries per label \(([\d,]+) queries\)", "output",
     r"mean over ([\d,]+) queries",
     lambda m, o: _float(m[2]) == _float(o[1]), "the number of precision queries"),
    ("03_imagenet_classifier", r"(\d+\.\d) M parameters", "output", r"([\d,]+) parameters, 1000 classes",
     lambda m, o: round(_float(o[1]) / 1e6, 1) == float(m[1]), "EfficientNet-Lite0's parameter count"),
    ("03_imagenet_classifier", r"(\d+\.\d) % of the shorter side", "output", r"central crop of ([\d.]+) of the",
     lambda m, o: float(m[1]) == 100 * float(o[1]), "the crop fraction"),
    ("05_export_tfjs", r"The batch: (\d+) fresh practice faces.*?and (\d+) real faces", "output",
     r"model input \((\d+), 48, 48, 1\)",
     lambda m, o: int(m[1]) + int(m[2]) == int(o[1]), "the size of the browser-vs-Keras batch"),
    ("05_export_tfjs", r"median of (\d+) calls", "code", r"repeats=(\d+)",
     lambda m, o: m[1] == o[1], "the number of timed calls"),
    ("06_visualizing_cnns", r"(\d+) noisy copies .*?, (\d+) path steps .*?on a (\d+)-px grid", "code",
     r"CHEAP = dict\(smoothgrad_n=(\d+), ig_steps=(\d+), occlusion_patch=\d+, occlusion_stride=(\d+)\)",
     lambda m, o: m.groups() == o.groups(), "the cheap saliency settings"),
    ("06_visualizing_cnns", r"hits them as often as their \*\*area fraction\*\* \(about (\d+) %", "output",
     r"mask area (0\.\d+)",
     lambda m, o: round(100 * float(o[1])) == int(m[1]), "the share of the face the masks cover"),
    ("06_visualizing_cnns", r"the model notebook 04 trains has (\d+)×(\d+) cells for a 48×48 face", "output",
     r"'out_relu' has \((\d+), (\d+)\) cells for a 48x48 face",
     lambda m, o: m.groups() == o.groups(), "the size of Face2Emoji's last feature map"),
    ("06_visualizing_cnns", r"by as much as (\d+) of 255 levels \(about (\d+) in our runs\)",
     "output", r"change: max ([\d.]+) levels of 255",
     lambda m, o: float(o[1]) < int(m[1]) and abs(float(o[1]) - int(m[2])) <= 1, "the fooling image's largest change"),
]


@pytest.mark.parametrize("stem,md_pattern,where,pattern,check,what", QUOTES, ids=[q[5] for q in QUOTES])
def test_quoted_figures_match(stem, md_pattern, where, pattern, check, what):
    nb = load(stem)
    prose = re.sub(r"\s+", " ", FENCE.sub("", "\n".join(markdown(nb))))   # line breaks do not matter
    quoted = one(md_pattern, prose, f"{stem}, the text quoting {what}")
    found = list(re.finditer(pattern, outputs(nb) if where == "output" else code(nb), re.M | re.S))
    assert found, f"{stem}: no {where} matches {pattern!r} ({what}): update this test with the notebook"
    for there in found:  # every place that gives the figure
        assert check(quoted, there), (f"{stem}: the text says {quoted.group(0)!r} but the {where} says "
                                      f"{there.group(0)!r}: update the text ({what})")


def _orders_of_magnitude(stem: str, md_pattern: str, out_pattern: str) -> None:
    nb = load(stem)
    prose = re.sub(r"\s+", " ", FENCE.sub("", "\n".join(markdown(nb))))
    quoted = float(one(md_pattern, prose, stem).group(1))
    values = [float(v) for v in re.findall(out_pattern, outputs(nb))]
    assert values, f"{stem}: no output matches {out_pattern!r}"
    worst = max(values)
    assert quoted / 10 ** 0.5 <= worst <= quoted * 10 ** 0.5, (
        f"{stem}: the text says 'around {quoted:g}' but the output's largest value is {worst:.1e}")


def test_export_differences_quoted_in_05_match_the_run():
    _orders_of_magnitude("05_export_tfjs", r"differences \(around (\de-\d)",
                         r"float32 +\w+ +[\w.]+ +max \|browser - Keras\| ([\d.]+e-\d+)")
    _orders_of_magnitude("05_export_tfjs", r"float16 export moves probabilities by about (\de-\d)",
                         r"float16 +\w+ +[\w.]+ +max \|browser - Keras\| ([\d.]+e-\d+)")


# ------------------------------------------------------------------ reading order and claims about the code
def _heading_level(md: str) -> int | None:
    m = re.match(r"(#{1,6})\s", md.lstrip())
    return len(m.group(1)) if m else None


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.stem)
def test_no_section_is_left_empty_by_the_cell_after_it(path):
    """A heading added at the end of another cell's text introduces what comes next, so the next cell
    must not start a new heading of the same level (06 once had "Grad-CAM is class-discriminative" at
    the end of the maps' discussion, followed by the saliency exercise, its collage four cells later).
    A cell that starts with its heading may be a section of text alone."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell, after in zip(cells, cells[1:]):
        if cell["cell_type"] != "markdown" or after["cell_type"] != "markdown":
            continue
        body = FENCE.sub("", text(cell)).strip()
        found = list(re.finditer(r"^(#{1,6})\s+(.+)$", body, re.M))
        nxt = _heading_level(text(after))
        if found and found[-1].start() > 0 and nxt is not None:
            level, title = len(found[-1][1]), found[-1][2]
            assert nxt > level, (f"{title!r} is introduced at the end of a cell, but the next cell starts "
                                 "another heading: move the heading next to its content")


def test_06_grad_cam_collage_follows_its_heading():
    cells = load("06_visualizing_cnns")["cells"]
    at = [i for i, c in enumerate(cells) if "Grad-CAM is class-discriminative" in text(c)]
    assert len(at) == 1, "one cell introduces the Grad-CAM collage"
    after = cells[at[0] + 1]
    assert after["cell_type"] == "code" and "saliency.collage(" in text(after), "the collage comes right after its heading"


def test_06_batch_sizes_quoted_are_the_package_defaults():
    import numpy as np

    from aiffel_lib.saliency.scorer import _auto_batch

    prose = re.sub(r"\s+", " ", "\n".join(markdown(load("06_visualizing_cnns"))))
    m = one(r"full batches of (\d+) images of (\d+)×(\d+)", prose, "06, the gradient batch")
    x = np.zeros((3, int(m[2]), int(m[3]), 3), np.float32)
    assert int(m[1]) == _auto_batch(None, x), "06 quotes a gradient batch that is not saliency's default"
    forward = one(r"a forward pass alone takes twice as many images per call, (\d+)", prose, "06, the forward batch")
    assert int(forward[1]) == _auto_batch(None, x, forward_only=True)


def test_06_points_learners_at_a_short_plain_tape_function():
    import ast
    import inspect

    from aiffel_lib import saliency
    from aiffel_lib.saliency import gradients

    prose = "\n".join(markdown(load("06_visualizing_cnns")))
    assert "`gradients.py`: its first function, `class_score_gradients`" in prose
    tree = ast.parse(inspect.getsource(gradients))
    first = next(node for node in tree.body if isinstance(node, ast.FunctionDef))
    assert first.name == "class_score_gradients", "the notebook sends learners to gradients.py's first function"
    body = [n for n in first.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    lines = sum(1 for n in ast.walk(ast.Module(body=body, type_ignores=[])) if isinstance(n, ast.stmt))
    assert lines <= 6 and not first.decorator_list, "the tape a learner reads stays a few plain statements"
    assert "print(inspect.getsource(saliency.class_score_gradients))" in code(load("06_visualizing_cnns"))
    assert saliency.class_score_gradients is gradients.class_score_gradients
