"""The response distributions of the hidden Markov model (models/hmm.py), one class each.

Every family here is written so that a state's log-density is *linear in features of the data*:

    log f_k(y) = Σ_f η_fk(θ) · F_f(y) + c(y)

with F(y) fixed per observation (zero where the response is missing) and η the state's natural
parameters. Then one matrix product gives every state's log-density for every customer-period, the
expected complete-data log-likelihood of EM depends on the data only through the per-state sums
S_kf = Σ γ_k F_f (the posterior-weighted sufficient statistics), and so does the gradient of the
log-likelihood (Fisher's identity: the score is the gradient of that expectation). Gradients of
η(θ) are taken by complex steps (exact to rounding), so a family only states η.

binary        purchased or not: logit of P(y = 1) per state
poisson       a count: log of the mean per state
gaussian      mean and log standard deviation per state
lognormal     spend given a purchase: mean and log sd of log spend per state (zero or missing spend is
              not a purchase and leaves the response out)
gamma         spend given a purchase: log shape and log rate per state
categorical   a nominal answer: logits of categories 2.. against the first, per state
ordinal       an ordered answer (a 1–5 or 1–10 item): proportional-odds cumulative logit with shared
              thresholds and a location per state (the first state's is 0)
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

COMPLEX_STEP = 1e-20
PROB_FLOOR = 1e-10


def softplus(x):
    """log(1 + e^x) for real or complex x without overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.real(x) > 0, x + np.log1p(np.exp(-x)), np.log1p(np.exp(x)))


def log_softmax(logits, axis=-1):
    shift = np.max(np.real(logits), axis=axis, keepdims=True)
    z = logits - shift
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def logit(p):
    p = np.clip(p, PROB_FLOOR, 1 - PROB_FLOOR)
    return np.log(p) - np.log1p(-p)


def level_label(value) -> str:
    """A category as text: 3.0 -> '3'."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


class Family:
    """One response distribution; subclasses state η(θ) and a start/M-step from statistics."""

    kind = ""

    def __init__(self, n_states: int):
        self.K = n_states

    # ------------------------------------------------------------ data
    def observed(self, y: np.ndarray) -> np.ndarray:
        return np.isfinite(y)

    def features(self, y: np.ndarray) -> np.ndarray:
        """F(y), shape y.shape + (F,), zero where missing."""
        raise NotImplementedError

    def constant(self, y: np.ndarray) -> np.ndarray:
        """c(y), zero where missing."""
        return np.zeros(y.shape)

    def setup(self, y: np.ndarray) -> None:
        """Learn what the data define (categories); called once on the fitting data."""

    def score_value(self, y: np.ndarray) -> np.ndarray:
        """A number per observation used to build deterministic starting points (NaN if missing)."""
        y = np.where(self.observed(y), y, np.nan)
        return y

    # ------------------------------------------------------------ parameters
    @property
    def n_params(self) -> int:
        raise NotImplementedError

    def names(self) -> list[str]:
        raise NotImplementedError

    def eta(self, theta):
        """Natural parameters, shape (F, K); real or complex θ."""
        raise NotImplementedError

    def mstep(self, stats: np.ndarray) -> np.ndarray:
        """θ maximising Σ_kf S_kf η_fk(θ) for statistics S (K, F)."""
        return self.numeric_mstep(stats, self.default_theta())

    def default_theta(self) -> np.ndarray:
        return np.zeros(self.n_params)

    def expected_q(self, theta, stats) -> float:
        return float(np.real(np.sum(stats.T * self.eta(theta))))

    def gradient(self, theta, stats) -> np.ndarray:
        """∂/∂θ of Σ S η(θ), by complex steps."""
        theta = np.asarray(theta, dtype=float)
        out = np.empty(theta.size)
        for j in range(theta.size):
            step = theta.astype(complex)
            step[j] += 1j * COMPLEX_STEP
            out[j] = np.sum(stats.T * np.imag(self.eta(step))) / COMPLEX_STEP
        return out

    def jacobian(self, theta) -> np.ndarray:
        """∂η/∂θ, shape (parameters, F, K), by complex steps (the per-customer scores are this
        applied to each customer's statistics)."""
        theta = np.asarray(theta, dtype=float)
        out = []
        for j in range(theta.size):
            step = theta.astype(complex)
            step[j] += 1j * COMPLEX_STEP
            out.append(np.imag(self.eta(step)) / COMPLEX_STEP)
        return np.array(out).reshape(theta.size, -1, self.K)

    def numeric_mstep(self, stats, start) -> np.ndarray:
        res = optimize.minimize(lambda th: -self.expected_q(th, stats), start,
                                jac=lambda th: -self.gradient(th, stats), method="BFGS", options={"gtol": 1e-9})
        return res.x

    def permute(self, theta, perm) -> np.ndarray:
        """θ with the states relabelled: new state a is old state perm[a]."""
        return np.asarray(theta).reshape(-1, self.K)[:, perm].ravel()

    def level(self, theta) -> np.ndarray:
        """A per-state level used to order states (higher = more activity)."""
        return np.asarray(theta).reshape(-1, self.K)[0]

    def describe(self, theta) -> dict:
        """Per-state quantities on the natural scale, for profiles."""
        raise NotImplementedError

    def mean(self, theta) -> np.ndarray:
        """Per-state expected value of the response (where defined)."""
        return self.level(theta)


class Binary(Family):
    kind = "binary"

    def observed(self, y):
        return np.isfinite(y)

    def features(self, y):
        obs = self.observed(y)
        return np.stack([obs, np.where(obs, y, 0.0)], axis=-1).astype(float)

    def score_value(self, y):
        return np.where(self.observed(y), y, np.nan)

    @property
    def n_params(self):
        return self.K

    def names(self):
        return [f"[S{k + 1}]:logit" for k in range(self.K)]

    def eta(self, theta):
        return np.stack([-softplus(theta), theta])

    def mstep(self, stats):
        return logit(stats[:, 1] / np.maximum(stats[:, 0], 1e-300))

    def describe(self, theta):
        return {"probability": special.expit(theta)}

    def mean(self, theta):
        return special.expit(theta)


class Poisson(Family):
    kind = "poisson"

    def observed(self, y):
        return np.isfinite(y) & (np.nan_to_num(y, nan=-1) >= 0)

    def features(self, y):
        obs = self.observed(y)
        return np.stack([obs, np.where(obs, y, 0.0)], axis=-1).astype(float)

    def constant(self, y):
        obs = self.observed(y)
        return np.where(obs, -special.gammaln(np.where(obs, y, 0.0) + 1), 0.0)

    @property
    def n_params(self):
        return self.K

    def names(self):
        return [f"[S{k + 1}]:log_mean" for k in range(self.K)]

    def eta(self, theta):
        return np.stack([-np.exp(theta), theta])

    def mstep(self, stats):
        return np.log(np.maximum(stats[:, 1], 1e-10) / np.maximum(stats[:, 0], 1e-300))

    def describe(self, theta):
        return {"mean": np.exp(theta)}

    def mean(self, theta):
        return np.exp(theta)


class Gaussian(Family):
    kind = "gaussian"

    def transform(self, y):
        return y

    def features(self, y):
        obs = self.observed(y)
        x = np.where(obs, self.transform(np.where(obs, y, 1.0)), 0.0)
        return np.stack([obs, x, x * x], axis=-1).astype(float)

    def score_value(self, y):
        obs = self.observed(y)
        return np.where(obs, self.transform(np.where(obs, y, 1.0)), np.nan)

    @property
    def n_params(self):
        return 2 * self.K

    def names(self):
        return ([f"[S{k + 1}]:mean" for k in range(self.K)] + [f"[S{k + 1}]:log_sd" for k in range(self.K)])

    def eta(self, theta):
        mu, log_sd = theta[:self.K], theta[self.K:]
        prec = np.exp(-2 * log_sd)
        return np.stack([-0.5 * np.log(2 * np.pi) - log_sd - 0.5 * mu * mu * prec, mu * prec, -0.5 * prec])

    def mstep(self, stats):
        n = np.maximum(stats[:, 0], 1e-300)
        mu = stats[:, 1] / n
        var = np.maximum(stats[:, 2] / n - mu * mu, 1e-6 * max(np.var(mu), 1e-6) + 1e-10)
        return np.concatenate([mu, 0.5 * np.log(var)])

    def describe(self, theta):
        return {"mean": theta[:self.K], "sd": np.exp(theta[self.K:])}


class LogNormal(Gaussian):
    """Spend given a purchase: log spend is Gaussian per state; spend ≤ 0 or missing is no purchase."""

    kind = "lognormal"

    def observed(self, y):
        return np.isfinite(y) & (np.nan_to_num(y, nan=0.0) > 0)

    def transform(self, y):
        return np.log(y)

    def constant(self, y):
        obs = self.observed(y)
        return np.where(obs, -np.log(np.where(obs, y, 1.0)), 0.0)

    def describe(self, theta):
        mu, sd = theta[:self.K], np.exp(theta[self.K:])
        return {"mean_log": mu, "sd_log": sd, "mean": np.exp(mu + sd * sd / 2), "median": np.exp(mu)}

    def mean(self, theta):
        return np.exp(theta[:self.K] + np.exp(2 * theta[self.K:]) / 2)


class Gamma(Family):
    """Spend given a purchase: gamma with shape a and rate b per state (mean a/b)."""

    kind = "gamma"

    def observed(self, y):
        return np.isfinite(y) & (np.nan_to_num(y, nan=0.0) > 0)

    def features(self, y):
        obs = self.observed(y)
        v = np.where(obs, y, 1.0)
        return np.stack([obs, np.where(obs, v, 0.0), np.where(obs, np.log(v), 0.0)], axis=-1).astype(float)

    def score_value(self, y):
        obs = self.observed(y)
        return np.where(obs, np.log(np.where(obs, y, 1.0)), np.nan)

    @property
    def n_params(self):
        return 2 * self.K

    def names(self):
        return [f"[S{k + 1}]:log_shape" for k in range(self.K)] + [f"[S{k + 1}]:log_rate" for k in range(self.K)]

    def eta(self, theta):
        a, b = np.exp(theta[:self.K]), np.exp(theta[self.K:])
        return np.stack([a * theta[self.K:] - special.loggamma(a), -b, a - 1])

    def mstep(self, stats):
        n = np.maximum(stats[:, 0], 1e-300)
        mean, mean_log = stats[:, 1] / n, stats[:, 2] / n
        s = np.maximum(np.log(mean) - mean_log, 1e-8)
        shape = np.empty(self.K)
        for k in range(self.K):       # K scalar root-findings: log a − ψ(a) = s
            shape[k] = optimize.brentq(lambda a: np.log(a) - special.digamma(a) - s[k], 1e-6, 1e8)
        return np.concatenate([np.log(shape), np.log(shape / mean)])

    def level(self, theta):
        return self.mean(theta)

    def describe(self, theta):
        a, b = np.exp(theta[:self.K]), np.exp(theta[self.K:])
        return {"shape": a, "rate": b, "mean": a / b}

    def mean(self, theta):
        return np.exp(theta[:self.K] - theta[self.K:])


class Categorical(Family):
    """A nominal answer; `levels` fixes the categories (else the sorted values seen when fitting)."""

    kind = "categorical"

    def __init__(self, n_states, levels=None):
        super().__init__(n_states)
        self.levels = None if levels is None else np.asarray(levels)

    def setup(self, y):
        if self.levels is None:
            values = y[np.isfinite(y)]
            self.levels = np.unique(values)
        if self.levels.size < 2:
            raise ValueError(f"a {self.kind} response needs at least two categories")

    @property
    def C(self):
        return int(self.levels.size)

    def observed(self, y):
        return np.isin(y, self.levels)

    def codes(self, y):
        obs = self.observed(y)
        return np.where(obs, np.searchsorted(self.levels, np.where(obs, y, self.levels[0])), -1)

    def features(self, y):
        codes = self.codes(y)
        return (codes[..., None] == np.arange(self.C)).astype(float)

    def score_value(self, y):
        codes = self.codes(y).astype(float)
        return np.where(codes >= 0, codes, np.nan)

    @property
    def n_params(self):
        return self.K * (self.C - 1)

    def names(self):
        return [f"[S{k + 1}]:logit({level_label(self.levels[c])})" for k in range(self.K) for c in range(1, self.C)]

    def probabilities(self, theta):
        logits = np.concatenate([np.zeros((self.K, 1)), np.reshape(theta, (self.K, self.C - 1))], axis=1)
        return np.exp(log_softmax(logits))

    def eta(self, theta):
        logits = np.concatenate([np.zeros((self.K, 1), dtype=np.asarray(theta).dtype),
                                 np.reshape(theta, (self.K, self.C - 1))], axis=1)
        return log_softmax(logits).T

    def mstep(self, stats):
        p = np.maximum(stats, PROB_FLOOR)
        p = p / p.sum(axis=1, keepdims=True)
        return (np.log(p[:, 1:]) - np.log(p[:, :1])).ravel()

    def permute(self, theta, perm):
        return np.reshape(theta, (self.K, self.C - 1))[perm].ravel()

    def level(self, theta):
        return self.probabilities(theta) @ np.arange(self.C)

    def mean(self, theta):
        return self.probabilities(theta) @ self.levels.astype(float)

    def describe(self, theta):
        return {f"P({level_label(v)})": self.probabilities(theta)[:, c] for c, v in enumerate(self.levels)}


class Ordinal(Categorical):
    """Proportional odds: P(y ≤ c | state k) = σ(κ_c − loc_k), loc_1 = 0, κ increasing
    (κ_1 free, then log increments). `levels` is the scale, e.g. 1..5."""

    kind = "ordinal"

    @property
    def n_params(self):
        return (self.C - 1) + (self.K - 1)

    def names(self):
        return ([":threshold1"] + [f":log_step{c}" for c in range(2, self.C)]
                + [f"[S{k + 1}]:location" for k in range(1, self.K)])

    def split(self, theta):
        theta = np.asarray(theta)
        cut = np.cumsum(np.concatenate([theta[:1], np.exp(theta[1:self.C - 1])]))
        loc = np.concatenate([np.zeros(1, dtype=theta.dtype), theta[self.C - 1:]])
        return cut, loc

    def cumulative(self, theta):
        cut, loc = self.split(theta)
        z = cut[None, :] - loc[:, None]
        cdf = 1 / (1 + np.exp(-z))
        ones = np.ones((self.K, 1))
        return np.concatenate([0 * ones, cdf, ones], axis=1)

    def probabilities(self, theta):
        return np.real(np.diff(self.cumulative(theta), axis=1))

    def eta(self, theta):
        probs = np.diff(self.cumulative(theta), axis=1)
        return np.log(probs + PROB_FLOOR * 1e-5).T

    def default_theta(self):
        return np.concatenate([[-1.0], np.zeros(self.C - 2), np.linspace(0.5, 1.5, self.K - 1)])

    def mstep(self, stats):
        # Start from the pooled thresholds and state locations from each state's mean code.
        pooled = stats.sum(axis=0) + 1e-3
        cum = np.cumsum(pooled)[:-1] / pooled.sum()
        cut = logit(cum)
        steps = np.log(np.maximum(np.diff(cut), 1e-3))
        mean_code = stats @ np.arange(self.C) / np.maximum(stats.sum(axis=1), 1e-300)
        loc = (mean_code - mean_code[0]) * 4 / max(self.C - 1, 1)
        start = np.concatenate([cut[:1], steps, loc[1:]])
        return self.numeric_mstep(stats, start)

    def permute(self, theta, perm):
        theta = np.asarray(theta, float)
        cut, loc = self.split(theta)
        shift = loc[perm[0]]
        return np.concatenate([[theta[0] - shift], theta[1:self.C - 1], (loc[perm] - shift)[1:]])

    def level(self, theta):
        return self.split(theta)[1]


FAMILIES = {cls.kind: cls for cls in (Binary, Poisson, Gaussian, LogNormal, Gamma, Categorical, Ordinal)}


def make_family(spec, n_states: int) -> Family:
    """A family from its name ('binary', ...) or a dict {'type': ..., 'levels': [...]}."""
    if isinstance(spec, Family):
        return spec
    if isinstance(spec, dict):
        kind, levels = spec.get("type"), spec.get("levels")
    else:
        kind, levels = spec, None
    if kind not in FAMILIES:
        raise ValueError(f"response type {kind!r}: expected one of {', '.join(FAMILIES)}")
    cls = FAMILIES[kind]
    return cls(n_states, levels) if issubclass(cls, Categorical) else cls(n_states)


# ------------------------------------------------------------------ simulation

def sample(family: Family, theta, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw of the response per entry of `states` (state indices; -1 = not observed -> NaN)."""
    theta = np.asarray(theta, dtype=float)
    s = np.where(states >= 0, states, 0)
    u = rng.random(states.shape)
    if isinstance(family, Categorical):
        cum = np.cumsum(family.probabilities(theta), axis=1)[s]
        out = family.levels[np.minimum((u[..., None] > cum).sum(-1), family.C - 1)].astype(float)
    elif family.kind == "binary":
        out = (u < special.expit(theta)[s]).astype(float)
    elif family.kind == "poisson":
        out = rng.poisson(np.exp(theta)[s]).astype(float)
    elif family.kind in ("gaussian", "lognormal"):
        out = theta[:family.K][s] + np.exp(theta[family.K:])[s] * special.ndtri(np.clip(u, 1e-300, 1 - 1e-16))
        if family.kind == "lognormal":
            out = np.exp(out)
    elif family.kind == "gamma":
        out = rng.gamma(np.exp(theta[:family.K])[s], 1 / np.exp(theta[family.K:])[s])
    else:
        raise ValueError(family.kind)
    return np.where(states >= 0, out, np.nan)
