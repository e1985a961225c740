"""The contractual report's fast variant, read from the session's shared run (`published_overview` in
conftest.py: each fast variant is executed once per session) instead of a run of its own.

The checks are those of tests/test_contractual.py (published sBG and BG/BB values, section sources,
the figures' numbers in results.json); there they run on a report that module executes itself, which
`make test-all` keeps.
"""

from __future__ import annotations

import json

import test_contractual


def test_fast_report_records_its_numbers_and_sources(published_overview):
    doc = json.loads((published_overview / "contractual_retention" / "fast" / "results.json").read_text())
    test_contractual.test_fast_report_records_its_numbers_and_sources(doc)
