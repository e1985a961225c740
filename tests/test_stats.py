import numpy as np
import pytest

from crmresearch import stats


def test_wilson_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17, table I: 81/263 -> 0.2553 to 0.3662 (Wilson, no CC).
    lo, hi = stats.wilson_interval(81, 263)
    assert lo == pytest.approx(0.2553, abs=5e-5) and hi == pytest.approx(0.3662, abs=5e-5)
    # 15/148 -> 0.0624 to 0.1605
    lo, hi = stats.wilson_interval(15, 148)
    assert lo == pytest.approx(0.0624, abs=5e-5) and hi == pytest.approx(0.1605, abs=5e-5)


def test_wilson_zero_and_full_counts_stay_in_unit_interval():
    lo, hi = stats.wilson_interval(np.array([0, 20]), np.array([20, 20]))
    assert lo[0] == 0 and 0 < hi[0] < 0.2 and hi[1] == 1 and 0.8 < lo[1] < 1


def test_wilson_coverage_is_near_nominal():
    """Coverage over p in {0.1, 0.3, 0.5} and n in {30, 100, 400}, 20,000 draws each.

    Binomial discreteness makes single cells oscillate (measured 0.930-0.975); the average is 0.947.
    """
    rng = np.random.default_rng(1)
    cells = []
    for p in (0.1, 0.3, 0.5):
        for n in (30, 100, 400):
            k = rng.binomial(n, p, size=20_000)
            lo, hi = stats.wilson_interval(k, n)
            cells.append(np.mean((lo <= p) & (p <= hi)))
    assert min(cells) > 0.92 and max(cells) < 0.98, cells
    assert 0.94 < np.mean(cells) < 0.96, np.mean(cells)


def test_nps_split_and_interval():
    scores = np.array([10] * 40 + [8] * 35 + [3] * 25)
    nps = stats.net_promoter_score(scores)
    assert (nps.promoters, nps.passives, nps.detractors) == pytest.approx((40, 35, 25))
    assert nps.nps == pytest.approx(15)
    se = np.sqrt((0.40 + 0.25 - 0.15**2) / 100)
    assert nps.upper - nps.nps == pytest.approx(100 * 1.959964 * se, rel=1e-5)


def test_nps_interval_coverage():
    rng = np.random.default_rng(2)
    probs = np.array([0.25, 0.35, 0.40])  # detractor 3, passive 8, promoter 10
    true_nps = 100 * (0.40 - 0.25)
    hits = 0
    for _ in range(2000):
        s = rng.choice([3, 8, 10], size=300, p=probs)
        r = stats.net_promoter_score(s)
        hits += r.lower <= true_nps <= r.upper
    assert 0.93 < hits / 2000 < 0.97


def test_lorenz_top_share_and_gini():
    v = np.array([1.0, 1.0, 1.0, 1.0, 16.0])
    pop, share = stats.lorenz_curve(v)
    assert share[-1] == 1 and share[4] == pytest.approx(0.2)
    assert stats.top_share(v, 0.2) == pytest.approx(0.8)
    assert stats.gini(np.ones(10)) == pytest.approx(0)
    assert stats.gini(np.r_[np.zeros(9), 1.0]) == pytest.approx(0.9)


def test_whale_curve_peaks_above_one_with_unprofitable_customers():
    pop, cum = stats.whale_curve(np.array([50.0, 30.0, 10.0, -5.0, -15.0]))
    assert cum.max() == pytest.approx(90 / 70) and cum[-1] == pytest.approx(1)


def test_p_values_are_never_written_as_zero():
    from crmresearch.stats import p_text

    assert p_text(0.0) == "p < 1e-16" and p_text(1e-300) == "p < 1e-16"
    assert p_text(3.1e-5) == "p = 3.1e-05" and p_text(0.0421) == "p = 0.042"
    assert p_text(float("nan")) == "p undefined"


def test_map_blocks_gives_the_loop_in_order_whatever_the_threads(monkeypatch):
    from crmresearch import config

    monkeypatch.setattr(config, "BLOCK_THREAD_CELLS", 0)
    def square(s):
        return np.arange(s, s + 3) ** 2
    loop = [square(s) for s in range(0, 30, 3)]
    for threads in (1, 2, 4):
        monkeypatch.setattr(config, "BLOCK_THREADS", threads)
        got = stats.map_blocks(square, range(0, 30, 3), cells=10**9)
        assert len(got) == len(loop) and all(np.array_equal(a, b) for a, b in zip(got, loop))
