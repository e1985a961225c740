"""Numbers in generated text: tests of report sentences check the figures a sentence states, not its wording.

`numbers(text)` reads every number a sentence shows (Markdown emphasis, thousands separators, the
typographic minus and en-dash ranges such as `6.4–8.3` understood); `assert_states(text, *values)`
checks that each value is among them, to the precision it is written with.
"""

from __future__ import annotations

import re

NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d])|(?<![\w.])[-−]?\d+(?:\.\d+)?")


def numbers(text: str) -> list[float]:
    """Every number written in `text`, in order ("1,204" is 1204; "−0.5" is -0.5; "6.4–8.3" is 6.4 and 8.3;
    "30%" is 30)."""
    plain = text.replace("**", "").replace("\u00a0", " ")
    # A range "a–b" or "a-b": the dash separates, it is not the sign of b.
    plain = re.sub(r"(\d)\s*[–-]\s*(?=\d)", r"\1 ", plain)
    return [float(m.group(0).replace(",", "").replace("−", "-")) for m in NUMBER.finditer(plain)]


def states(text: str, value: float, places: int | None = None) -> bool:
    """Whether `text` shows `value` (rounded to `places` decimals when given, else exactly as a number)."""
    found = numbers(text)
    if places is None:
        return any(abs(x - value) < 1e-9 for x in found)
    return any(abs(x - round(value, places)) < 0.5 * 10 ** -places + 1e-12 for x in found)


def assert_states(text: str, *values: float, places: int | None = None) -> None:
    missing = [v for v in values if not states(text, v, places)]
    assert not missing, f"{missing} not among the numbers {numbers(text)} of: {text!r}"


def assert_omits(text: str, *values: float) -> None:
    shown = [v for v in values if states(text, v)]
    assert not shown, f"{shown} should not be stated in: {text!r}"


def without_numbers(text: str) -> str:
    """The text with each number replaced by `#`: two sentences that differ here differ in more than figures."""
    plain = text.replace("**", "").replace("\u00a0", " ")
    return NUMBER.sub("#", re.sub(r"(\d)\s*[–-]\s*(?=\d)", r"\1 ", plain))
