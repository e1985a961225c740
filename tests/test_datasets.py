import numpy as np
import pandas as pd
import pytest

from crmresearch import datasets
from crmresearch.datasets import DataValidationError


def test_cdnow_master_matches_published_counts():
    tx = datasets.load_cdnow("master")
    assert tx["customer_id"].nunique() == 23_570 and len(tx) == 69_659
    assert tx["date"].min() == pd.Timestamp("1997-01-01") and tx["date"].max() == pd.Timestamp("1998-06-30")
    first = tx.groupby("customer_id")["date"].min()
    assert first.max() < pd.Timestamp("1997-04-01")  # the cohort first bought in Jan-Mar 1997


def test_cdnow_sample_is_the_fhl_2005_sample():
    tx = datasets.load_cdnow("sample")
    assert tx["customer_id"].nunique() == 2_357 and len(tx) == 6_919


def test_mobi_shape_and_scale():
    df = datasets.load_mobi()
    assert df.shape == (250, 25)
    items = df.drop(columns="respondent_id")
    assert items.min().min() >= 1 and items.max().max() <= 10


def test_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    fake = tmp_path / "mobi.csv"
    fake.write_text("CUSA1\n1\n")
    monkeypatch.setattr(datasets.config, "DATA_DIR", tmp_path)
    with pytest.raises(DataValidationError, match="sha256"):
        datasets.load_mobi()


@pytest.fixture
def survey_csv(tmp_path):
    def write(rows, name="survey.csv"):
        path = tmp_path / name
        pd.DataFrame(rows).to_csv(path, index=False)
        return path
    return write


GOOD_SURVEY = {"id": [1, 2, 3], "sat": [7, 9, 10], "loy": [6, 8, 10]}


def test_good_survey_loads(survey_csv):
    df = datasets.load_survey(survey_csv(GOOD_SURVEY), ["sat", "loy"], (1, 10), id_column="id")
    assert df["sat"].tolist() == [7.0, 9.0, 10.0]


@pytest.mark.parametrize("rows, column, expected, bad_rows", [
    ({"id": [1, 2], "sat": [7, 9]}, "loy", "a column named 'loy'", []),
    ({"id": [1, 2, 3], "sat": [7, "high", 10], "loy": [6, 8, 10]}, "sat", "numeric values", [2]),
    ({"id": [1, 2, 3], "sat": [7, 11, 10], "loy": [6, 0, 10]}, "sat", "values between 1 and 10", [2]),
    ({"id": [1, 2, 2], "sat": [7, 9, 10], "loy": [6, 8, 10]}, "id", "unique respondent ids", [3]),
])
def test_bad_survey_names_file_column_and_rows(survey_csv, rows, column, expected, bad_rows):
    path = survey_csv(rows)
    with pytest.raises(DataValidationError) as info:
        datasets.load_survey(path, ["sat", "loy"], (1, 10), id_column="id")
    err = info.value
    assert err.path == str(path) and err.column == column and expected in err.expected
    assert err.rows == bad_rows
    assert str(path) in str(err) and column in str(err)


@pytest.mark.parametrize("rows, column, expected, bad_rows", [
    ({"cust": ["a", "b"], "when": ["2024-01-02", "2024-13-45"], "amt": [3.0, 4.0]}, "when", "dates", [2]),
    ({"cust": ["a", "b"], "when": ["2024-01-02", "2024-01-03"], "amt": [3.0, -4.0]}, "amt", "values at least 0", [2]),
    ({"cust": ["a", "b", "c"], "when": ["2024-01-02"] * 3, "amt": [3.0, 2e12, 1e12]}, "amt", "values at most 1e+12", [2]),
    ({"cust": ["a", "b"], "when": ["2024-01-02", "2024-01-03"]}, "amt", "a column named 'amt'", []),
])
def test_bad_transactions_name_file_column_and_rows(survey_csv, rows, column, expected, bad_rows):
    path = survey_csv(rows, "tx.csv")
    with pytest.raises(DataValidationError) as info:
        datasets.load_transactions(path, "cust", "when", "amt", date_format="%Y-%m-%d")
    assert info.value.column == column and expected in info.value.expected and info.value.rows == bad_rows


def test_parquet_transactions_load(tmp_path):
    path = tmp_path / "tx.parquet"
    pd.DataFrame({"cust": ["a", "a"], "when": pd.to_datetime(["2024-01-02", "2024-02-02"]),
                  "amt": [1.5, 2.5]}).to_parquet(path)
    tx = datasets.load_transactions(path, "cust", "when", "amt")
    assert tx["amount"].sum() == 4.0 and np.issubdtype(tx["date"].dtype, np.datetime64)


def test_a_file_digest_is_read_once_and_again_when_the_file_changes(tmp_path):
    """`datasets.sha256_file` keeps a file's digest by (path, size, modification time), once the file is
    older than `RACY_SECONDS`; a rewritten file, even of the same size, is read again."""
    import hashlib
    import os

    from crmresearch import datasets

    f = tmp_path / "log.csv"
    f.write_bytes(b"a,1\n")
    old = f.stat().st_mtime_ns - 10 * 10**9
    os.utime(f, ns=(old, old))
    first = datasets.sha256_file(f)
    assert first == hashlib.sha256(b"a,1\n").hexdigest()
    assert any(key[0] == str(f.resolve()) for key in datasets.known_file_digests())
    f.write_bytes(b"b,2\n")                     # same size, new time: read again
    assert datasets.sha256_file(f) == hashlib.sha256(b"b,2\n").hexdigest()
    # A file just written is not kept (its time may not yet tell a rewrite apart).
    assert not any(key[0] == str(f.resolve()) and key[2] == f.stat().st_mtime_ns for key in datasets.known_file_digests())
