"""A simulated survey market in which the satisfaction-loyalty literature holds by construction.

The data-generating process (DGP) below is used twice: to build the report's scenarios
(competitive vs. monopoly markets, switching costs, the six sources of loyalty) and to prove
that the estimators recover what was put in. Every knob is named after the idea it encodes:

* market competitiveness ``c`` (Jones & Sasser 1995, "Why satisfied customers defect", HBR):
  in competitive markets attitudinal loyalty stays low through a *zone of indifference* and
  rises steeply only near complete satisfaction; in a monopoly it rises linearly;
* switching cost ``k`` (retention without attitude: "retention is not loyalty", Dick & Basu 1994):
  a barrier that stops a customer who wants to leave from leaving;
* basic vs. potential expectations (two-factor / Kano logic, Kano et al. 1984): basic attributes
  add to satisfaction with a diminishing marginal effect, potential ones with an increasing one;
* the response scale: items are rounded to whole points and clipped at the scale's ends,
  which creates the ceiling that mimics a flattening curve;
* observed behaviour: defection (a Bernoulli draw from the intention and the barrier).

Equations, for respondent ``i`` (unit scale 0..1 unless stated; ``Φ`` is the normal cdf):

1. attribute performance, with a halo factor ``F_i`` common to all attributes::

       z_ij = sqrt(ρ) F_i + sqrt(1-ρ) e_ij,     q_ij = Φ(z_ij + μ_j)

   (``μ_j`` = ``basic_level`` for basic, ``potential_level`` for potential attributes);
2. part-worths with curvature ``κ > 0``::

       basic      b(q) = (1 - exp(-κ q)) / (1 - exp(-κ))     (concave: diminishing marginal effect)
       potential  p(q) = (exp(κ q) - 1) / (exp(κ) - 1)       (convex: increasing marginal effect)

3. latent satisfaction ``s_i = w_b mean_j b(q_ij) + (1-w_b) mean_j p(q_ij) + σ_s u_i``;
4. attitudinal loyalty, piecewise linear in ``s`` through (0, 0), (ψ, h_c), (1, 1)::

       g_c(s) = h_c s/ψ                              for s <= ψ
              = h_c + (1 - h_c)(s - ψ)/(1 - ψ)       for s >  ψ,     h_c = (1-c) ψ + c h_min
       a_i = ℓ_0 + (ℓ_1 - ℓ_0) g_c(s_i) + σ_a v_i

   so ``c = 0`` is a straight line and ``c = 1`` a flat zone up to ``ψ`` then a steep rise;
5. behaviour: the barrier ``k_i ~ Beta(4 k, 4 (1 - k))`` and::

       P(defect_i) = (1 - k_i) Φ((τ - a_i) / δ)

6. answers on the response scale ``[L, H]``: ``item = clip(round(L + (H-L)(latent) + σ_item e), L, H)``
   for three satisfaction items (latent ``s``), "would choose again" and "would recommend" (latent
   ``a``), the perceived switching cost (``k``) and every attribute (``q``).

On the response scale the loyalty breakpoint is ``L + (H-L) ψ`` and the slopes of loyalty on
satisfaction are ``(ℓ_1-ℓ_0) h_c/ψ`` below and ``(ℓ_1-ℓ_0)(1-h_c)/(1-ψ)`` above it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

# The market's knobs and the scenario presets are plain data that the report's parameters name
# (`simulation: {scenario: monopoly}`), so they live with that schema; the DGP is here.
from ..parameters.satisfaction_loyalty import SCENARIOS, MarketScenario, scenario  # noqa: F401 - the topic's API

SATISFACTION_ITEMS = ("sat1", "sat2", "sat3")


def basic_part_worth(q, curvature: float):
    """b(q) = (1 - exp(-κ q)) / (1 - exp(-κ)): concave, so its marginal effect diminishes."""
    return -np.expm1(-curvature * np.asarray(q)) / -np.expm1(-curvature)


def potential_part_worth(q, curvature: float):
    """p(q) = (exp(κ q) - 1) / (exp(κ) - 1): convex, so its marginal effect increases."""
    return np.expm1(curvature * np.asarray(q)) / np.expm1(curvature)


def attitude_curve(s, sc: MarketScenario):
    """ℓ_0 + (ℓ_1 - ℓ_0) g_c(s): the noise-free attitudinal loyalty at unit satisfaction ``s``."""
    s = np.asarray(s, dtype=float)
    h, psi = sc.flat_height, sc.breakpoint
    g = np.where(s <= psi, h * s / psi, h + (1 - h) * (s - psi) / (1 - psi))
    return sc.loyalty_low + (sc.loyalty_high - sc.loyalty_low) * g


def _to_scale(latent, sc: MarketScenario, rng, noise: float | None = None):
    """Answer on the response scale: rounded to whole points and clipped at both ends."""
    width = sc.scale_high - sc.scale_low
    raw = sc.scale_low + width * latent + (sc.item_noise if noise is None else noise) * rng.standard_normal(
        np.shape(latent))
    return np.clip(np.rint(raw), sc.scale_low, sc.scale_high)


def simulate_market(sc: MarketScenario, seed: int, switching_cost: float | None = None) -> pd.DataFrame:
    """Draw ``sc.n`` respondents from the DGP of the module docstring.

    ``switching_cost`` overrides the scenario's barrier while keeping every other draw identical
    (common random numbers), which is how the report removes the barrier and watches retention.
    Columns: the latent ``satisfaction_latent`` / ``attitude_latent`` (unit scale), the answers
    ``sat1..3``, ``satisfaction`` (their mean), ``choose_again``, ``recommend``, ``switching_cost``,
    ``basic_1..``, ``potential_1..``, and the behaviour ``repurchased`` (bool).
    """
    rng = np.random.default_rng(seed)
    n, kb, kp = sc.n, sc.basic_attributes, sc.potential_attributes
    halo = rng.standard_normal(n)[:, None]
    z = np.sqrt(sc.halo) * halo + np.sqrt(1 - sc.halo) * rng.standard_normal((n, kb + kp))
    level = np.r_[np.full(kb, sc.basic_level), np.full(kp, sc.potential_level)]
    q = special.ndtr(z + level)
    basic = basic_part_worth(q[:, :kb], sc.curvature).mean(axis=1) if kb else 0.0
    potential = potential_part_worth(q[:, kb:], sc.curvature).mean(axis=1) if kp else 0.0
    weight = sc.basic_weight if kb and kp else float(bool(kb))
    s = weight * basic + (1 - weight) * potential + sc.satisfaction_noise * rng.standard_normal(n)
    a = attitude_curve(s, sc) + sc.attitude_noise * rng.standard_normal(n)

    # The barrier and the defection draw use their own uniforms so that changing the barrier
    # changes nothing else in the sample.
    mean_k = sc.switching_cost if switching_cost is None else switching_cost
    u_barrier, u_defect = rng.random(n), rng.random(n)
    if mean_k <= 0:
        barrier = np.zeros(n)
    elif mean_k >= 1:
        barrier = np.ones(n)
    else:
        barrier = sps.beta.ppf(u_barrier, 4 * mean_k, 4 * (1 - mean_k))
    p_defect = (1 - barrier) * special.ndtr((sc.defection_threshold - a) / sc.defection_spread)

    out = pd.DataFrame({"respondent_id": np.arange(1, n + 1), "satisfaction_latent": s, "attitude_latent": a})
    for item in SATISFACTION_ITEMS:
        out[item] = _to_scale(s, sc, rng)
    out["satisfaction"] = out[list(SATISFACTION_ITEMS)].mean(axis=1)
    out["choose_again"] = _to_scale(a, sc, rng)
    out["recommend"] = _to_scale(a, sc, rng)
    out["switching_cost"] = _to_scale(barrier, sc, rng)
    for j in range(kb):
        out[f"basic_{j + 1}"] = _to_scale(q[:, j], sc, rng)
    for j in range(kp):
        out[f"potential_{j + 1}"] = _to_scale(q[:, kb + j], sc, rng)
    out["repurchased"] = u_defect >= p_defect
    out["defect_probability"] = p_defect
    return out


# ---------------------------------------------------------------- the six sources of loyalty

@dataclass(frozen=True)
class LoyaltySource:
    """One of six sources of loyalty (monopoly, kinship, incentive, inertia, trust, latent) as a change to the market.

    ``attitude_shift`` moves attitudinal loyalty (unit scale); ``blocked`` is the probability
    that a customer who wants to stay is kept from buying (latent loyalty).
    """

    name: str
    description: str
    satisfaction_shift: float     # added to μ of every attribute
    switching_cost: float
    attitude_shift: float = 0.0
    blocked: float = 0.0


LOYALTY_SOURCES = (
    LoyaltySource("monopoly", "no alternative supplier (utilities, telecom)", -0.6, 0.9),
    LoyaltySource("kinship", "employees and their families", 0.0, 0.6, attitude_shift=0.15),
    LoyaltySource("incentive", "price or promotion; ends with the discount", 0.2, 0.05, attitude_shift=-0.15),
    LoyaltySource("inertia", "habit, convenience, effort of switching", -0.3, 0.6),
    LoyaltySource("trust", "satisfaction accumulated into trust", 0.9, 0.1, attitude_shift=0.05),
    LoyaltySource("latent", "wants to buy more but is blocked", 0.6, 0.1, blocked=0.6),
)


def simulate_loyalty_sources(n_per_source: int, seed: int, base: MarketScenario | None = None) -> pd.DataFrame:
    """One simulated segment per loyalty source, in a competitive market, stacked with a ``source`` column.

    Each segment is drawn from ``simulate_market`` with the source's switching cost and shifted
    attribute levels; attitude shifts and blocked purchases are applied on top.
    """
    base = base or SCENARIOS["competitive"]
    rng = np.random.default_rng(seed)
    frames = []
    for idx, src in enumerate(LOYALTY_SOURCES):
        sc = replace(base, name=src.name, n=n_per_source, switching_cost=src.switching_cost,
                     basic_level=base.basic_level + src.satisfaction_shift,
                     potential_level=base.potential_level + src.satisfaction_shift,
                     loyalty_low=base.loyalty_low + src.attitude_shift,
                     loyalty_high=base.loyalty_high + src.attitude_shift)
        df = simulate_market(sc, seed=int(rng.integers(2**31)) + idx)
        if src.blocked:
            df["repurchased"] &= rng.random(len(df)) >= src.blocked
        df.insert(1, "source", src.name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------- simple worlds for the estimator tests

def simulate_segmented(n: int, breakpoint: float, slope_before: float, slope_after: float, intercept: float = 0.0,
                       noise: float = 1.0, x_low: float = 0.0, x_high: float = 10.0, seed: int = 0):
    """y = α + β₁ x + (β₂ - β₁)(x - ψ)₊ + σ ε with x uniform on [x_low, x_high]: a known breakpoint."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_low, x_high, n)
    y = (intercept + slope_before * x + (slope_after - slope_before) * np.clip(x - breakpoint, 0, None)
         + noise * rng.standard_normal(n))
    return x, y


def simulate_linear_ceiling(n: int, intercept: float, slope: float, noise: float, x, scale=(1, 10),
                            step: float = 1.0, seed: int = 0):
    """The flat-zone null: a straight latent line, answers rounded to ``step`` and clipped to ``scale``.

    ``x`` is either an array of n satisfaction values (kept) or a callable ``rng -> array``.
    """
    rng = np.random.default_rng(seed)
    xs = np.asarray(x(rng) if callable(x) else x, dtype=float)
    latent = intercept + slope * xs + noise * rng.standard_normal(n)
    answers = np.rint(latent / step) * step if step > 0 else latent
    return xs, np.clip(answers, scale[0], scale[1])
