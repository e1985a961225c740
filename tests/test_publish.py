"""The publishing configuration: one `_quarto.yml` drives both engines."""

from __future__ import annotations

import json

import pytest
import yaml

from crmresearch import config, publish

from conftest import run_cli


def test_root_quarto_config_is_a_website_that_does_not_execute():
    cfg = yaml.safe_load(config.QUARTO_CONFIG.read_text())
    assert cfg["project"]["type"] == "website"
    assert cfg["execute"]["enabled"] is False and cfg["execute"]["echo"] is False
    assert {"html", "typst"} <= set(cfg["format"])
    assert "quarto-required" in cfg


def test_derived_config_is_rerooted_at_the_reports_folder():
    entries = [publish.ReportEntry("00_crm_overview", "crm_overview", "fast", "T", "S", "F", "2026-01-01", "")]
    cfg = publish.site_config_for(publish.load_site_config(), entries)
    assert cfg["project"]["output-dir"] == publish.BUILD_DIR
    assert cfg["project"]["render"] == ["index.qmd", "*/*/report.ipynb"]
    left = cfg["website"]["navbar"]["left"]
    assert left[0]["href"] == "index.qmd"
    assert left[-1]["menu"] == [{"text": "fast", "href": "crm_overview/fast/report.ipynb"}]


def test_cell_options_figures_and_tables_are_numbered(tmp_path):
    nb = {"cells": [
        {"cell_type": "raw", "metadata": {}, "source": "---\ntitle: A\n---"},
        {"cell_type": "markdown", "metadata": {}, "source": "See @fig-a and @tbl-b."},
        {"cell_type": "code", "metadata": {}, "source": "#| label: fig-a\n#| fig-cap: \"Cap A\"\nx", "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}}]},
        {"cell_type": "code", "metadata": {}, "source": "t", "outputs": [
            {"output_type": "display_data", "metadata": {},
             "data": {"text/markdown": "| a |\n|---:|\n| 1 |\n\n: Cap B {#tbl-b}\n"}}]},
        {"cell_type": "code", "metadata": {"tags": ["remove-cell"]}, "source": "secret = 1", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "hidden"}]},
        {"cell_type": "code", "metadata": {}, "source": "#| include: false\nprint(2)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "also hidden"}]},
    ]}
    meta, body = publish.notebook_to_markdown(nb, tmp_path / "figures", "")
    assert meta == {"title": "A"}
    assert "[Figure 1](#fig-a)" in body and "[Table 1](#tbl-b)" in body
    assert "**Figure 1:** Cap A" in body and "**Table 1:** Cap B {#tbl-b}" in body
    assert "hidden" not in body and "secret" not in body
    assert (tmp_path / "figures" / "fig-a.png").exists()


def test_engine_quarto_without_quarto_is_a_clear_error(published_overview, monkeypatch):
    if publish.quarto_executable():
        pytest.skip("quarto is installed here")
    result = run_cli("publish", "--engine", "quarto", "--reports-dir", published_overview)
    assert result.returncode == 1 and "no `quarto` executable" in result.stderr
    assert (published_overview / "_site" / "index.html").exists(), "the previous site stays"


def test_publish_without_reports_says_what_to_do(tmp_path):
    result = run_cli("publish", "--reports-dir", tmp_path)
    assert result.returncode == 1 and "crmresearch run --all" in result.stderr
