"""Calibration and holdout windows of a transaction log, resolved in one place.

A report on a log needs three dates: the start of the tracking clock (`cohort_start`), the end of
calibration (`calibration_end`) and the end of the holdout (`holdout_end`). Each may be set in the
parameter file; what is left out comes from, in this order:

* a shipped dataset's published setup (CDNOW: Fader, Hardie & Lee 2005, 39 + 39 weeks from 1 January
  1997), so the published estimates are reproduced;
* a simulation's fixed calendar (the log is drawn inside it);
* the user's own log: the clock starts on its first transaction, the holdout ends on its last, and
  calibration ends half way (whole days). A shipped dataset's dates are never applied to a user's log.

`resolve` returns the dates with a sentence saying where they came from, which the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

FIELDS = ("cohort_start", "calibration_end", "holdout_end")

# Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science 24(2):
# the CDNOW cohort's first purchases in the first quarter of 1997, 39 weeks of calibration, 39 of holdout.
PUBLISHED = {"cdnow_sample": (date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30)),
             "cdnow_master": (date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30))}
# A simulated log is drawn on this calendar (the same 39 + 39 weeks, from 2020).
SIMULATION = (date(2020, 1, 1), date(2020, 9, 29), date(2021, 6, 29))


@dataclass(frozen=True)
class Windows:
    cohort_start: date
    calibration_end: date
    holdout_end: date
    source: str              # "parameter file", "published setup", "simulation calendar", "the log's own dates"

    def as_dict(self) -> dict:
        return {"cohort_start": str(self.cohort_start), "calibration_end": str(self.calibration_end),
                "holdout_end": str(self.holdout_end), "source": self.source}

    def sentence(self) -> str:
        span = (f"from {self.cohort_start:%d %B %Y}, calibration to {self.calibration_end:%d %B %Y}, holdout to "
                f"{self.holdout_end:%d %B %Y}")
        if self.source == "the log's own dates":
            return (f"The windows were taken from the log itself ({span}): the parameter file did not set them, so the "
                    "clock starts on the first transaction, the holdout ends on the last and calibration ends half way.")
        return f"Windows {span} ({self.source})."


class WindowError(ValueError):
    """Windows that cannot hold a cohort: one line naming the field and what was expected."""

    def __init__(self, field: str, expected: str):
        super().__init__(f"field 'parameters.{field}': expected {expected}")
        self.field, self.expected = field, expected


def resolve(params, first: date | None = None, last: date | None = None, dataset: str | None = None,
            simulated: bool = False) -> Windows:
    """The three dates of `params` (fields `FIELDS`, each a date or None), completed as the module says;
    `first` and `last` are the log's first and last transaction dates (a user's log)."""
    given = {f: getattr(params, f) for f in FIELDS}
    if all(v is not None for v in given.values()):
        out = Windows(*given.values(), "parameter file")
    elif dataset in PUBLISHED or simulated:
        fill = PUBLISHED[dataset] if dataset in PUBLISHED else SIMULATION
        out = Windows(*(given[f] if given[f] is not None else d for f, d in zip(FIELDS, fill)),
                      "published setup of the dataset" if dataset in PUBLISHED else "simulation calendar")
    else:
        if first is None or last is None:
            raise WindowError("cohort_start", "the windows (cohort_start, calibration_end, holdout_end) or a log to "
                                              "take them from")
        start = given["cohort_start"] or pd.Timestamp(first).date()
        end = given["holdout_end"] or pd.Timestamp(last).date()
        middle = given["calibration_end"] or start + timedelta(days=max((end - start).days // 2, 0))
        out = Windows(start, middle, end, "the log's own dates" if all(v is None for v in given.values())
                      else "parameter file, the rest from the log's own dates")
    if not out.cohort_start <= out.calibration_end < out.holdout_end:
        raise WindowError("calibration_end", f"cohort_start <= calibration_end < holdout_end (got {out.cohort_start}, {out.calibration_end}, {out.holdout_end}"
                          + (f"; the log runs from {pd.Timestamp(first).date()} to {pd.Timestamp(last).date()}"
                             if first is not None and last is not None else "") + ")")
    return out


def apply(params, windows: Windows):
    """`params` with its three dates set to `windows` (pydantic `model_copy`: the schema is frozen)."""
    return params.model_copy(update={f: getattr(windows, f) for f in FIELDS})
