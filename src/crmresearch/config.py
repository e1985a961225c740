"""Path constants and project-wide settings. No notebook or module builds a path by hand.

Paths derive from the package location, never from the working directory, so a notebook
behaves the same when opened in JupyterLab, run by papermill or collected by nbval.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
TEMPLATES_DIR = PACKAGE_DIR / "templates"
EXPECTED_SECONDS_FILE = PACKAGE_DIR / "runner" / "expected_seconds.json"   # reports' times, longest first (bench_suite.py)

# The package is installed editable from a src/ layout, so the project root is two levels up.
PROJECT_DIR = Path(os.environ.get("CRMRESEARCH_PROJECT_DIR", PACKAGE_DIR.parents[1])).resolve()
NOTEBOOKS_DIR = PROJECT_DIR / "notebooks"
PARAMS_DIR = PROJECT_DIR / "params"
QUARTO_CONFIG = PROJECT_DIR / "_quarto.yml"


def reports_dir() -> Path:
    """Where executed reports go; `CRMRESEARCH_REPORTS_DIR` (set by `--reports-dir`) overrides."""
    return Path(os.environ.get("CRMRESEARCH_REPORTS_DIR", PROJECT_DIR / "reports")).resolve()


# Interactive and nbval runs (no output_dir parameter) write their results here, never
# next to a published report.
def scratch_dir(notebook: str) -> Path:
    return reports_dir() / "_scratch" / notebook


KERNEL_NAME = "crmresearch"
DEFAULT_SEED = 20261123

# Figures: fixed inches matched to a 6.3in text width (A4 with 2.5 cm margins) so that
# the HTML and the Typst PDF show them at the same size.
FIGURE_WIDTH_IN = 6.3
FIGURE_HEIGHT_IN = 3.6
FIGURE_DPI = 150

# Tables: a page shows at most this many rows of a table; a longer one is written whole as CSV beside
# the report (`TABLES_DIR`) and the page links to it.
TABLE_MAX_ROWS = 30
TABLES_DIR = "tables"

# Uncertainty defaults, here once: every schema field and function signature that takes them uses these.
CONFIDENCE = 0.95               # level of every interval
PARAMETER_DRAWS = 500           # parameter draws for intervals of predictions
BOOTSTRAP_RESAMPLES = 200       # customer bootstrap resamples (each one re-fits a model)

# Retention economics (Dwyer's tables): the rise in every retention rate that is valued (Reichheld &
# Sasser 1990: 5 points) and how many times keeping a customer costs less than acquiring one.
RETENTION_UPLIFT = 0.05
ACQUISITION_TO_RETENTION_COST = 5.0

# PLS path modelling (models.plssem): bootstrap resamples of a PLS-SEM fit (Hair et al.'s
# recommendation; all resamples run as one batch of correlation matrices), the stop rule of the
# Wold/Lohmöller iterations (largest change of an outer weight), the folds of PLSpredict, the jackknife
# groups behind the BCa acceleration (leave-one-out up to this many respondents), and the HTMT level
# above which two constructs are not told apart (Henseler, Ringle & Sarstedt 2015).
PLS_BOOTSTRAP_RESAMPLES = 5000
PLS_TOLERANCE = 1e-10
PLS_MAX_ITERATIONS = 300
PLS_PREDICT_FOLDS = 10
PLS_JACKKNIFE_GROUPS = 500
HTMT_THRESHOLD = 0.85

# Report wording: the share of satisfied customers who are lost (expected to have left, or who would not
# choose the provider again) from which a lead says satisfaction alone does not keep customers; below it,
# the lead says satisfied customers mostly stay.
SATISFIED_LOSS_SHARE = 0.10

# The runner hashes a report's inputs (parameter file, data files) when the run starts and hands the
# digests to the kernel in this variable (JSON: path -> sha256), so provenance and freshness describe
# the bytes the run started from, even if a file changes while the kernel runs.
INPUT_DIGESTS_ENV = "CRMRESEARCH_INPUT_DIGESTS"
# A folder the runner makes for one run and removes after it, in which the kernel's engine spills: the
# kernel is stopped at once when its last cell is done, so its own clean-up at exit never runs.
SCRATCH_ENV = "CRMRESEARCH_SCRATCH_DIR"
# The kernel's scratch folders made elsewhere (inside a `temp_directory` the parameter file names) are
# listed in this file of the run's scratch folder, and the runner removes them with it.
SCRATCH_ELSEWHERE_FILE = "folders-elsewhere.txt"

# The largest data file the in-memory (pandas) path reads; a larger one goes through the engine
# (`engine: {backend: duckdb}` reads it where it lies). The environment variable raises or lowers it.
MAX_IN_MEMORY_FILE_MB = int(os.environ.get("CRMRESEARCH_MAX_FILE_MB", "1024"))

# A CLV report on a log read in place whose cohort has more customers than this holds no row per
# customer in the kernel: every part comes from engine aggregates and the per-customer predictions
# are written by the engine (`clv.at_scale`); smaller cohorts are summarised into pandas as before.
CLV_AGGREGATE_CUSTOMERS = int(os.environ.get("CRMRESEARCH_CLV_AGGREGATE_CUSTOMERS", "1000000"))

# A model fitted to more unique data rows than this starts from its fit on a spread sample of the
# rows, about SAMPLE_START_SIZE of them (`models.base.sample_start`): the full fit then needs a few
# BFGS iterations instead of some fifty, and reaches the same maximum (Newton-polished to 1e-8).
SAMPLE_START_ROWS = 200_000
SAMPLE_START_SIZE = 50_000

# Threads that evaluate blocks of parameter draws side by side when a block is large (millions of
# unique rows): numpy's array functions release the interpreter lock, and each block's numbers are the
# same whichever thread computes them (`stats.map_blocks`).
BLOCK_THREADS = min(4, os.cpu_count() or 1)
BLOCK_THREAD_CELLS = 10_000_000      # cells (draws x rows) of the whole work from which threads are used

# Hidden Markov models (models/hmm.py): deterministic starting points tried, EM iterations and the
# relative change that stops them, and how many customers one vectorised forward-backward pass holds
# (small enough for its (customers, K, K) arrays to stay in cache: 2,000 ran 4x faster than 100,000).
HMM_STARTS = 6
HMM_EM_MAX_ITER = 200
HMM_EM_TOL = 1e-7
HMM_CHUNK_CUSTOMERS = 2_000
HMM_MAX_STATES = 8
HMM_MIN_CUSTOMERS_PER_STATE = 20      # a user's panel needs this many customers per state tried
