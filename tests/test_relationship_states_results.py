"""The relationship-states report's fast variant, read from the session's shared run (`published_overview`
in conftest.py: each fast variant is executed once per session) instead of a run of its own.

The checks are those of tests/test_relationship_states.py (`check_fast_results`); there they run on a
report that module executes itself, which `make test-all` keeps.
"""

from __future__ import annotations

import json

import test_relationship_states


def test_fast_report_records_its_numbers_and_sources(published_overview):
    doc = json.loads((published_overview / "relationship_states" / "fast" / "results.json").read_text())
    test_relationship_states.check_fast_results(doc)
