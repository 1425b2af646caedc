"""What every check shares: calling the learner's code safely and printing one verdict.

A check judges by OUTCOME (same mask, same ranking, same crop within a pixel), not by
one way of writing the answer; when the outcome differs it names the real mistake.
Nothing a learner writes can make a check print a traceback.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import warnings
from typing import Any, Callable, Iterator, Sequence

import numpy as np

PASS, FAIL = "✅", "❌"
NOTE = "note"


class _Mistake(Exception):
    """One thing the learner's code got wrong; ``hint`` says what to try."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


class Verdict:
    """What a check found: truthy when it passed. Displays as nothing in a notebook (the
    verdict is already printed), so a check cell shows just the plain-words message.

    notes: harmless differences from the worked solution, printed under a pass.
    """

    def __init__(self, name: str, passed: bool, message: str, notes: Sequence[str] = ()):
        self.name, self.passed, self.message, self.notes = name, passed, message, list(notes)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"Verdict({self.name!r}, passed={self.passed})"

    def _ipython_display_(self) -> None:
        pass


class Notes(list):
    """Harmless differences a check noticed; a check body appends plain sentences."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _verdict(name: str, body: Callable[[Notes], int]) -> Verdict:
    """Run ``body(notes)`` (returns how many checks passed) and print one verdict.

    A ``_Mistake`` is the learner's mistake in plain words; any other exception means the
    check met an answer it did not foresee: it says so instead of showing a traceback.
    """
    notes = Notes()
    try:
        with warnings.catch_warnings():  # library warnings would bury the verdict
            warnings.simplefilter("ignore")
            n = body(notes)
    except _Mistake as m:
        message = f"{FAIL} {name}: {m}" + (f"\n   hint: {m.hint}" if m.hint else "")
        print(message)
        return Verdict(name, False, message)
    except Exception as exc:  # noqa: BLE001 — an unforeseen answer must not end in a traceback
        message = (f"{FAIL} {name}: the check could not judge your answer "
                   f"({type(exc).__name__}: {_first_line(exc)})\n"
                   "   hint: print what your code returns (type, shape, dtype) and compare with the "
                   "docstring; if it matches, tell your instructor about this message")
        print(message)
        return Verdict(name, False, message)
    message = f"{PASS} {name}: all {n} checks passed" + "".join(f"\n   {NOTE}: {t}" for t in notes)
    print(message)
    return Verdict(name, True, message, notes)


@contextlib.contextmanager
def _quiet(keep_figures: bool = False) -> Iterator[list]:
    """Hide the learner's prints and progress bars, make ``plt.show()`` a no-op while their
    code runs (the inline backend would close the figure the check wants to read), and close
    the figures it drew unless ``keep_figures``. Yields the list of new figures (filled on exit)."""
    new_figures: list = []
    plt = sys.modules.get("matplotlib.pyplot")
    before = set(plt.get_fignums()) if plt is not None else set()
    patched = plt is not None
    if patched:
        real_show = plt.show
        plt.show = lambda *a, **k: None
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield new_figures
    finally:
        plt = sys.modules.get("matplotlib.pyplot")  # the learner's code may have imported it
        if plt is not None:
            if patched:
                plt.show = real_show
            new_figures.extend(plt.figure(n) for n in plt.get_fignums() if n not in before)
            if not keep_figures:
                for fig in new_figures:
                    plt.close(fig)


def _call(fn: Callable, *args: Any, what: str = "your function",
          hints: Sequence[tuple[str, str]] = (), figures: list | None = None, **kwargs: Any) -> Any:
    """Call the learner's function; turn its exceptions into a plain-words mistake.

    hints: ``(regex, hint)`` pairs tried on "ExceptionType: message" for a hint that fits.
    figures: a list that receives the figures the call drew (they are then left open).
    """
    if not callable(fn):
        raise _Mistake(f"expected a function, got {type(fn).__name__}",
                       "pass the function itself, without calling it: check_x(my_function)")
    drawn: list = []
    try:
        with _quiet(keep_figures=figures is not None) as drawn:
            return fn(*args, **kwargs)
    except NotImplementedError as exc:
        other = re.match(r"(\w+)\(\) is not written yet", str(exc))
        if other and other.group(1) != getattr(fn, "__name__", None):
            raise _Mistake(f"{what} calls {other.group(1)}(), which is not written yet",
                           f"write {other.group(1)} first (its cell above), run it, then this check") from None
        raise _Mistake(f"{what} is not written yet", "replace the # [[YOUR CODE]] line (and the raise under it) "
                       "with your code, run that cell, then run this check again") from None
    except _Mistake:
        raise
    except Exception as exc:  # noqa: BLE001 — any learner error becomes a message
        text = f"{type(exc).__name__}: {_first_line(exc)}"
        hint = next((h for pattern, h in hints if re.search(pattern, text, re.IGNORECASE)),
                    "read the message above; print the shapes of your inputs to see what arrives")
        raise _Mistake(f"{what} raised {text}", hint) from None
    finally:
        if figures is not None:
            figures.extend(drawn)


def _numeric_array(value: Any, what: str) -> np.ndarray:
    """``value`` as a NumPy array of numbers (tensors and lists accepted); a mistake otherwise."""
    if value is None:
        raise _Mistake(f"{what} is None", "return the result (a function without `return` gives None)")
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 — e.g. ragged lists
        raise _Mistake(f"{what} is a {type(value).__name__} that is not an array of numbers") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise _Mistake(f"{what} is a {type(value).__name__} of {arr.dtype}, not an array of numbers")
    return arr

