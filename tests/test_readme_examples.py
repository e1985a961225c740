"""The README's own-data examples run as written: every parameter block in the README that names a
notebook and a file under `data/` is validated (and the CLV one run end to end) on a file with the
columns it maps, written to a temporary folder in place of `data/`."""

from __future__ import annotations

import re
import textwrap
from datetime import date

import numpy as np
import pytest
import yaml

from crmresearch import config

README = config.PROJECT_DIR / "README.md"


def readme_examples() -> list[str]:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    out = []
    for block in blocks:
        text = textwrap.dedent(block)
        if re.search(r"^notebook:", text, re.M) and "path: data/" in text and "on_demand" not in text:
            out.append(text)
    return out


def _write_log(path, doc) -> None:
    from crmresearch.clv import simulate

    source = doc["parameters"]["transactions"]
    log = simulate.simulate_transaction_log((0.4, 6.0, 0.6, 3.0), (5.0, 4.0, 20.0), 800, date(2023, 2, 1), 60,
                                            date(2024, 6, 30), np.random.default_rng(3))
    log["customer_id"] = "00" + log["customer_id"].astype(str)
    fmt = source.get("date_format") or "%Y-%m-%d"
    log.assign(date=log["date"].dt.strftime(fmt)).rename(columns={
        "customer_id": source["customer_column"], "date": source["date_column"],
        "amount": source["amount_column"]}).to_csv(path, index=False)


def _write_panel(path, doc) -> None:
    """A panel with the columns the README's relationship-states example declares: 300 customers over 12
    months, ids with leading zeros, a 1-5 item with the missing code 9, a gap inside one customer's range."""
    import pandas as pd

    source = doc["parameters"]["panel"]
    rng = np.random.default_rng(11)
    customers, months = 300, 12
    active = rng.random(customers) < 0.5
    rows = pd.DataFrame({source["id_column"]: np.repeat([f"{i:05d}" for i in range(customers)], months),
                         source["period_column"]: np.tile(np.arange(1, months + 1), customers)})
    p_buy = np.repeat(np.where(active, 0.5, 0.1), months)
    bought = (rng.random(len(rows)) < p_buy).astype(int)
    rows["purchased"] = bought
    rows["spend"] = np.where(bought == 1, np.round(rng.lognormal(3.5, 0.6, len(rows)), 2), 0.0)
    rows["satisfaction"] = np.clip(np.round(np.repeat(np.where(active, 4.0, 2.5), months)
                                            + rng.normal(0, 0.8, len(rows))), 1, 5).astype(int)
    rows.loc[rng.random(len(rows)) < 0.03, "satisfaction"] = 9
    rows["visits"] = rng.poisson(np.where(bought == 1, 3.0, 0.5))
    rows["age"] = np.repeat(rng.integers(20, 70, customers), months)
    rows["contact"] = (rng.random(len(rows)) < 0.2).astype(int)
    rows.drop(index=[5]).to_csv(path, index=False)


WRITERS = {"03_customer_lifetime_value": ("orders.csv", _write_log), "06_relationship_states": ("my_panel.csv", _write_panel)}


def test_the_readme_has_an_own_data_example():
    assert any("03_customer_lifetime_value" in e for e in readme_examples())


@pytest.mark.parametrize("example", readme_examples(), ids=lambda e: re.search(r"variant: (\S+)", e).group(1))
def test_a_readme_own_data_example_validates_and_runs_as_written(example, tmp_path):
    from conftest import run_cli

    doc = yaml.safe_load(example)
    assert doc["notebook"] in WRITERS, "a new README example needs its data writer here"
    name, writer = WRITERS[doc["notebook"]]
    data = tmp_path / "data"
    data.mkdir()
    writer(data / name, doc)
    params = tmp_path / f"{doc['variant']}.yaml"
    params.write_text(example.replace("path: data/", f"path: {data}/"))
    check = run_cli("validate", params)
    assert check.returncode == 0 and check.stdout.startswith("ok"), check.stdout + check.stderr
    run = run_cli("run", params, "--reports-dir", tmp_path / "reports", timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    import json

    from crmresearch import parameters

    topic = parameters.topic(doc["notebook"])
    results = json.loads((tmp_path / "reports" / topic / doc["variant"] / "results.json").read_text())
    assert results["lead"]["sentences"] and results["lead"]["kind"] is None
    if topic == "customer_lifetime_value":
        assert results["results"]["windows"]["source"] == "the log's own dates"
        assert "Dwyer's worked example" not in results["finding"] and "1997" not in results["finding"]
