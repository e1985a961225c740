"""Benchmark: the ECSI structural model by PLS path modelling with 5,000 bootstrap resamples.

Compares `crmresearch.models.plssem` (all resamples' correlation matrices from one product of a
count matrix with the items' cross-products, Wold's iterations run on the whole batch) with the
two PyPI PLS-SEM packages on the same model (seven constructs, 24 items, twelve paths, path
weighting, Mode A):

* `plspm` 0.5.7 (Python port of R's plspm): one data set at a time, bootstrap in a process pool of two;
  it does not run under pandas 3 (it indexes rows as ``path.loc[dv,]`` and writes the intercept into the
  slopes' cells), so ``--plspm-python`` names an interpreter with pandas < 3 and plspm to run it in;
* `seminr` 0.2.1 (Python port of R's seminr): one data set at a time, bootstrap in a Python loop.

Two data sets: the shipped mobi survey (250 respondents) and a survey of 100,000 respondents
simulated from the composite population model with mobi's path-weighting paths
(`plssem.simulate_survey`). The point estimates are compared (largest absolute difference of path
coefficients, outer weights and loadings); the references stop their iterations at a looser rule
(plspm: sum of squared weight changes < 1e-6 by default, set to 1e-7 here; seminr: sum of absolute
changes < 1e-7), so differences of 1e-7 to 1e-6 are their stopping rules, not the model.

Measured differences (2-core machine): seminr agrees to 1e-10 on paths, weights and loadings, and on
Cronbach's α, ρ_A, ρ_C, AVE and HTMT (single items' monotrait mean 1 in both). plspm
on the raw 1-10 items (``scaled=True``) converges to other weights (paths off by up to 3e-2, weights by
0.16; its single-item Complaints weight is 0.885 instead of 1 although that score has unit variance,
so its scaling of the items is not the standardisation its documentation states). On items the bench
standardises first, plspm reproduces SmartPLS's and this package's paths to 1e-8, and its weights
differ by 1.9e-3: the factor √(n/(n − 1)) of standardising items with n − 1 and scaling scores with n. Where a
reference's full 5,000-resample bootstrap would take too long (``--ref-boot``), it runs fewer
resamples and its time per resample is scaled up; every resample does the same work.

Run:  /work/main/.venv/bin/python bench/bench_plssem.py [--boot 5000] [--n 100000] [--ref-boot 200]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from crmresearch import datasets
from crmresearch.models import plssem
from crmresearch.models.plssem import ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, PLSPathModel

warnings.filterwarnings("ignore")


def ours(data: pd.DataFrame, boot: int, seed: int):
    model = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS, scheme="path")
    t0 = time.perf_counter()
    model.fit(data, resamples=0)
    t1 = time.perf_counter()
    fit = model.fit(data, resamples=boot, seed=seed)
    t2 = time.perf_counter()
    return fit, t1 - t0, (t2 - t1) - (t1 - t0)


def estimates(fit) -> dict:
    return {"path": fit.params, "weight": fit.estimates["weight"], "loading": fit.estimates["loading"]}


# ---------------------------------------------------------------- plspm (PyPI)

def plspm_config():
    import plspm.config as c
    from plspm.mode import Mode

    structure = c.Structure()
    for a, b in ECSI_MOBI_PATHS:
        structure.add_path([a], [b])
    config = c.Config(structure.path(), scaled=True)
    for name, items in ECSI_MOBI_CONSTRUCTS.items():
        config.add_lv(name, Mode.A, *(c.MV(i) for i in items))
    return config


def run_plspm(data: pd.DataFrame, boot: int):
    from plspm.plspm import Plspm
    from plspm.scheme import Scheme

    t0 = time.perf_counter()
    point = Plspm(data, plspm_config(), Scheme.PATH, iterations=300, tolerance=1e-7)
    t1 = time.perf_counter()
    timed = None
    if boot:
        boot = max(boot + boot % 2, 10)          # plspm runs at least 10 resamples, a multiple of its 2 processes
        Plspm(data, plspm_config(), Scheme.PATH, iterations=300, tolerance=1e-7, bootstrap=True,
              bootstrap_iterations=boot, processes=2)
        timed = (time.perf_counter() - t1 - (t1 - t0)) / boot
    return point, t1 - t0, timed


# plspm in a separate interpreter: the same calls as `run_plspm`/`plspm_estimates`, self-contained
# (that interpreter has no crmresearch); argv: model JSON, data CSV, bootstrap resamples.
PLSPM_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
import plspm.config as c
from plspm.mode import Mode
from plspm.plspm import Plspm
from plspm.scheme import Scheme
model = json.loads(sys.argv[1])
data = pd.read_csv(sys.argv[2])
boot = int(sys.argv[3]) and max(int(sys.argv[3]) + int(sys.argv[3]) % 2, 10)   # plspm runs at least 10, even

def config():
    structure = c.Structure()
    for a, b in model["paths"]:
        structure.add_path([a], [b])
    cfg = c.Config(structure.path(), scaled=True)
    for name, items in model["constructs"].items():
        cfg.add_lv(name, Mode.A, *(c.MV(i) for i in items))
    return cfg

t0 = time.perf_counter()
calc = Plspm(data, config(), Scheme.PATH, iterations=300, tolerance=1e-7)
t1 = time.perf_counter()
per = None
if boot:
    Plspm(data, config(), Scheme.PATH, iterations=300, tolerance=1e-7, bootstrap=True, bootstrap_iterations=boot,
          processes=2)
    per = (time.perf_counter() - t1 - (t1 - t0)) / boot
pc, outer = calc.path_coefficients(), calc.outer_model()
names = [(k, i) for k, items in model["constructs"].items() for i in items]
print(json.dumps({"t_point": t1 - t0, "per": per,
                  "path": {f"{a} -> {b}": float(pc.loc[b, a]) for a, b in model["paths"]},
                  "weight": {f"{k}: {i}": float(outer.loc[i, "weight"]) for k, i in names},
                  "loading": {f"{k}: {i}": float(outer.loc[i, "loading"]) for k, i in names}}))
"""


def run_plspm_elsewhere(python: str, data: pd.DataFrame, boot: int):
    """plspm in another interpreter (one with pandas < 3, which plspm 0.5.7 needs), on the same data."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        data.to_csv(path, index=False)
        model = json.dumps({"constructs": ECSI_MOBI_CONSTRUCTS, "paths": ECSI_MOBI_PATHS})
        out = subprocess.run([python, "-c", PLSPM_SCRIPT, model, str(path), str(boot)],
                             capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: pd.Series(doc[k]) for k in ("path", "weight", "loading")}, doc["t_point"], doc["per"]


def plspm_estimates(calc) -> dict:
    pc = calc.path_coefficients()
    outer = calc.outer_model()
    path = pd.Series({f"{a} -> {b}": pc.loc[b, a] for a, b in ECSI_MOBI_PATHS})
    names = [(c, i) for c, items in ECSI_MOBI_CONSTRUCTS.items() for i in items]
    weight = pd.Series({f"{c}: {i}": outer.loc[i, "weight"] for c, i in names})
    loading = pd.Series({f"{c}: {i}": outer.loc[i, "loading"] for c, i in names})
    return {"path": path, "weight": weight, "loading": loading}


# ---------------------------------------------------------------- seminr (PyPI port)

def run_seminr(data: pd.DataFrame, boot: int):
    import seminr as s

    mm = s.constructs(*(s.composite(name, items) for name, items in ECSI_MOBI_CONSTRUCTS.items()))
    sm = s.relationships(*(s.paths(from_=a, to=b) for a, b in ECSI_MOBI_PATHS))
    t0 = time.perf_counter()
    model = s.estimate_pls(data[list(plssem.Layout.build(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS).items)], mm, sm,
                           inner_weights=s.path_weighting)
    t1 = time.perf_counter()
    timed = None
    if boot:
        s.bootstrap_model(model, nboot=boot, seed=1)
        timed = (time.perf_counter() - t1) / boot
    return model, t1 - t0, timed


def _named(matrix):
    """A seminr NamedMatrix as a DataFrame."""
    for rows, cols in (("rows", "cols"), ("rownames", "colnames"), ("row_names", "col_names")):
        if hasattr(matrix, rows) and hasattr(matrix, cols):
            return pd.DataFrame(np.asarray(matrix.values if hasattr(matrix, "values") else matrix.data),
                                index=list(getattr(matrix, rows)), columns=list(getattr(matrix, cols)))
    return pd.DataFrame(matrix)


def seminr_estimates(model) -> dict:
    pc, w, lo = _named(model.path_coef), _named(model.outer_weights), _named(model.outer_loadings)
    names = [(c, i) for c, items in ECSI_MOBI_CONSTRUCTS.items() for i in items]
    return {"path": pd.Series({f"{a} -> {b}": pc.loc[a, b] for a, b in ECSI_MOBI_PATHS}),
            "weight": pd.Series({f"{c}: {i}": w.loc[i, c] for c, i in names}),
            "loading": pd.Series({f"{c}: {i}": lo.loc[i, c] for c, i in names})}


def seminr_quality(model, fit) -> str:
    """Largest differences of the measurement-quality measures against seminr's on the same model."""
    import seminr as s

    table = _named(s.reliability_table(model))
    ours_q = fit.reliability().rename(columns={"cronbach_alpha": "alpha", "rho_a": "rhoA", "rho_c": "rhoC",
                                               "ave": "AVE"})
    quality = max(float(np.max(np.abs(table[k].to_numpy() - ours_q.loc[table.index, k].to_numpy())))
                  for k in ("alpha", "rhoA", "rhoC", "AVE"))
    theirs = _named(s.htmt(model))
    mine = fit.htmt().loc[theirs.index, theirs.columns]
    both = np.isfinite(theirs.to_numpy())
    htmt = float(np.max(np.abs(theirs.to_numpy()[both] - mine.to_numpy()[both])))
    return f"seminr 0.2.1: largest |difference| α/ρ_A/ρ_C/AVE {quality:.1e}, HTMT {htmt:.1e}"


def compare(name: str, mine: dict, theirs: dict) -> str:
    diffs = {k: float(np.max(np.abs(mine[k].to_numpy() - theirs[k].reindex(mine[k].index).to_numpy())))
             for k in mine}
    return f"{name}: largest |difference| " + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())


def bench(label: str, data: pd.DataFrame, args):
    print(f"\n== {label}: {len(data):,} respondents, {args.boot:,} bootstrap resamples ==")
    fit, t_point, t_boot = ours(data, args.boot, args.seed)
    mine = estimates(fit)
    print(f"crmresearch: estimate {t_point * 1e3:.1f} ms ({fit.iterations} iterations); bootstrap {t_boot:.2f} s "
          f"({t_boot / args.boot * 1e3:.3f} ms per resample, BCa jackknife included; {fit.bootstrap.failed} failed)")
    plspm_runner = (run_plspm, plspm_estimates) if not args.plspm_python else \
        (lambda d, b: run_plspm_elsewhere(args.plspm_python, d, b), lambda est: est)
    for name, runner, extract in (("plspm 0.5.7", *plspm_runner), ("seminr 0.2.1", run_seminr, seminr_estimates)):
        ref_boot = min(args.boot, args.ref_boot if len(data) <= 1000 else args.ref_boot_large)
        if name.startswith("plspm"):
            ref_boot = max(ref_boot + ref_boot % 2, 10)       # plspm runs at least 10, a multiple of its 2 processes
        try:
            ref, r_point, r_per = runner(data, ref_boot)
        except Exception as exc:      # noqa: BLE001 - a reference that fails is reported, not fatal
            hint = (" - plspm 0.5.7 indexes with `path.loc[dv,]` and writes the intercept into the slopes' cells, "
                    "which pandas >= 3 refuses; give --plspm-python, an interpreter with pandas < 3 and plspm"
                    if name.startswith("plspm") and not args.plspm_python else "")
            print(f"{name}: failed ({type(exc).__name__}: {str(exc)[:160]}){hint}")
            continue
        try:
            print(compare(name, mine, extract(ref)))
            if name.startswith("seminr"):
                print(seminr_quality(ref, fit))
            if name.startswith("plspm"):
                z = (data - data.mean()) / data.std()
                print(compare(f"{name} on items standardised beforehand", mine, extract(runner(z, 0)[0])))
        except Exception as exc:      # noqa: BLE001
            print(f"{name}: estimates not compared ({type(exc).__name__}: {str(exc)[:120]})")
        line = f"{name}: estimate {r_point * 1e3:.1f} ms (ratio {r_point / t_point:.1f}x)"
        if r_per is not None:
            r_boot = r_per * args.boot
            line += (f"; bootstrap {r_per * 1e3:.2f} ms per resample over {ref_boot} resamples -> {r_boot:.1f} s "
                     f"for {args.boot:,} (ratio {r_boot / t_boot:.0f}x)")
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--boot", type=int, default=5000)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--ref-boot", type=int, default=200, help="resamples the references run on mobi")
    parser.add_argument("--ref-boot-large", type=int, default=10,
                        help="resamples the references run on the large survey (plspm runs at least 10)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plspm-python", default=None,
                        help="a Python with plspm 0.5.7 and pandas < 3 (plspm does not run under pandas 3)")
    args = parser.parse_args()
    mobi = datasets.load_mobi()
    bench("mobi (ECSI mobile-phone survey)", mobi, args)
    model = PLSPathModel(ECSI_MOBI_CONSTRUCTS, ECSI_MOBI_PATHS)
    truth = model.fit(mobi, resamples=0).path_coefficients
    paths = {(a, b): truth.loc[a, b] for a, b in ECSI_MOBI_PATHS}
    large = plssem.simulate_survey(model, paths, args.n, np.random.default_rng(args.seed))
    bench("simulated survey", large, args)


if __name__ == "__main__":
    main()
