"""The rules that turn a customer's months into lifecycle stages, as plain data.

`StageRules` is a record (recency windows in months, optional purchase-count groups) shared by the
in-memory route (`lifecycle.stages.assign_stages`) and the engine's (`engine.summaries`): both
assign the same stage codes from it. It lives below both so that the engine imports no topic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RECENCY_GROUP_BOUNDS = (3, 6, 9)
# Named for what they mean (months since the last purchase): 1-3, 4-6, 7-9, 10 or more. The tracking
# tables this scheme comes from name the middle groups by the action they call for ("wake", "activate").
RECENCY_GROUP_LABELS = ("recent", "lapsing", "dormant", "lost")
PURCHASE_COUNT_BOUNDS = (1, 2)
PURCHASE_COUNT_LABELS = ("one", "two", "three+")


@dataclass(frozen=True)
class StageRules:
    """Recency groups (upper bounds in months, inclusive) and optional purchase-count groups.

    recency_bounds (3, 6, 9) with 4 labels means r in 1-3, 4-6, 7-9, 10+. count_bounds (1, 2) with
    3 labels means 1, 2, 3+ purchases; None ignores the count. A stage is "recency/count".
    """

    recency_bounds: tuple[int, ...] = RECENCY_GROUP_BOUNDS
    recency_labels: tuple[str, ...] = RECENCY_GROUP_LABELS
    count_bounds: tuple[int, ...] | None = None
    count_labels: tuple[str, ...] | None = None

    def __post_init__(self):
        if len(self.recency_labels) != len(self.recency_bounds) + 1:
            raise ValueError("recency_labels needs one label more than recency_bounds")
        if list(self.recency_bounds) != sorted(set(self.recency_bounds)) or self.recency_bounds[0] < 1:
            raise ValueError("recency_bounds must be increasing positive month counts")
        if self.count_bounds is not None:
            if self.count_labels is None or len(self.count_labels) != len(self.count_bounds) + 1:
                raise ValueError("count_labels needs one label more than count_bounds")
            if list(self.count_bounds) != sorted(set(self.count_bounds)) or self.count_bounds[0] < 1:
                raise ValueError("count_bounds must be increasing positive purchase counts")

    @property
    def states(self) -> tuple[str, ...]:
        if self.count_bounds is None:
            return tuple(self.recency_labels)
        return tuple(f"{r}/{c}" for r in self.recency_labels for c in self.count_labels)

    def stage_codes(self, recency, purchases) -> np.ndarray:
        """Stage code of each (months since last purchase, cumulative purchases) pair."""
        r_group = np.searchsorted(np.asarray(self.recency_bounds), recency, side="left")
        if self.count_bounds is None:
            return r_group.astype(np.int16)
        c_group = np.searchsorted(np.asarray(self.count_bounds), purchases, side="left")
        return (r_group * len(self.count_labels) + c_group).astype(np.int16)

    def allowed_transitions(self) -> np.ndarray:
        """S x S booleans: which one-month moves the rules make possible (others are structural zeros).

        From (r, k) a month without purchase leads to (r + 1, k), a month with purchases to (1, k')
        with k' > k; recency beyond the last bound and counts beyond the last bound behave alike,
        so enumerating r up to last bound + 1 and k up to last bound + 1 covers every case.
        """
        r_max = self.recency_bounds[-1] + 1
        k_max = (self.count_bounds[-1] + 1) if self.count_bounds is not None else 1
        r, k = np.meshgrid(np.arange(1, r_max + 1), np.arange(1, k_max + 1), indexing="ij")
        r, k = r.ravel(), k.ravel()
        origin = self.stage_codes(r, k)
        s = len(self.states)
        allowed = np.zeros((s, s), bool)
        allowed[origin, self.stage_codes(np.minimum(r + 1, r_max), k)] = True
        for extra in range(1, k_max + 1):
            allowed[origin, self.stage_codes(np.ones_like(r), np.minimum(k + extra, k_max))] = True
        return allowed
