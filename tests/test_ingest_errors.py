"""Every bad input gets an IngestError naming the file, and the column / value / row where there is one."""

from __future__ import annotations

import gzip
import json
import re

import duckdb
import pyarrow.parquet as pq
import pytest

import cur_builders as cb
from transforms import duck
from transforms.discover import discover
from transforms.readers import IngestError, ingest_errors, read_delivery


def run(delivery) -> list[tuple]:
    with ingest_errors():
        return read_delivery(duck.connect(), delivery).fetchall()


def write_cur2_without(root, column: str, period: str = "2025-01"):
    table = cb.cur2_table([cb.cur2_row(period)]).drop_columns([column])
    (path,) = cb.cur2_paths(root, period)
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    return path


def test_missing_required_column_cur2(tmp_path):
    path = write_cur2_without(tmp_path, "line_item_unblended_cost")
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: missing required column line_item_unblended_cost$"):
        read_delivery(duck.connect(), d)


def test_missing_required_column_in_one_file_names_that_file(tmp_path):
    good = cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11")])
    row = cb.legacy_parquet_row("2024-11")
    del row["line_item_currency_code"]
    bad = cb.write_legacy_parquet(tmp_path, "2024-11", [row], name="legacy-cur-00002.snappy.parquet")
    (d,) = discover(str(tmp_path))
    assert len(d.files) == 2 and str(good) < str(bad)
    with pytest.raises(IngestError, match=rf"^{re.escape(str(bad))}: missing required column line_item_currency_code$"):
        read_delivery(duck.connect(), d)


def test_missing_required_column_legacy_csv_uses_its_header(tmp_path):
    row = cb.legacy_csv_row()
    del row["lineItem/ProductCode"]
    path = cb.write_legacy_csv(tmp_path / "cur.csv", [row])
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: missing required column lineItem/ProductCode$"):
        read_delivery(duck.connect(), d)


def test_unknown_line_item_type_parquet(tmp_path):
    rows = [cb.cur2_row(identity_line_item_id="a"), cb.cur2_row(identity_line_item_id="b", line_item_line_item_type="Bogus")]
    (path,) = cb.write_cur2_parquet(tmp_path, "2025-01", rows)
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError) as err:
        run(d)
    assert str(err.value) == f"{path}: unknown line item type 'Bogus' in column line_item_line_item_type (row 2)"


def test_unknown_line_item_type_csv_names_the_line_item(tmp_path):
    path = cb.write_legacy_csv(tmp_path / "cur.csv", [cb.legacy_csv_row(**{"lineItem/LineItemType": "usage",
                                                                           "identity/LineItemId": "abc123"})])
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: unknown line item type 'usage' .*\(line item abc123\)$"):
        run(d)


def test_check_runs_whatever_columns_are_selected(tmp_path):
    """A total alone must not skip the row checks (they are a filter, not a pruned column)."""
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row(line_item_line_item_type="Bogus")])
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError, match="unknown line item type 'Bogus'"), ingest_errors():
        read_delivery(duck.connect(), d).aggregate("sum(unblended_cost)").fetchall()


def test_row_of_another_billing_period(tmp_path):
    rows = [cb.cur2_row("2025-01"), cb.cur2_row("2025-02")]  # the second row belongs to February
    (path,) = cb.write_cur2_parquet(tmp_path, "2025-01", rows)
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError) as err:
        run(d)
    assert str(err.value) == (
        f"{path}: bill_billing_period_start_date is in billing period 2025-02 but the file was delivered for "
        "billing period 2025-01 (its folder or manifest) (row 2)"
    )


def test_manifest_period_disagrees_with_folder(tmp_path):
    paths = cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01")], manifest=False)
    manifest = cb.write_manifest(tmp_path, "2025-01", paths)
    doc = json.loads(manifest.read_text())
    doc["billingPeriod"]["start"] = "2025-03-01T00:00:00.000Z"
    manifest.write_text(json.dumps(doc))
    with pytest.raises(IngestError, match=rf"^{re.escape(str(manifest))}: manifest billing period 2025-03 disagrees with its folder BILLING_PERIOD=2025-01$"):
        discover(str(tmp_path))


def test_legacy_csv_period_disagrees_with_dated_folder(tmp_path):
    path = cb.write_legacy_csv(tmp_path / "r" / "20241001-20241101" / "r-1.csv.gz", [cb.legacy_csv_row("2024-09")])
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: bill/BillingPeriodStartDate says billing period 2024-09 but its folder says 2024-10$"):
        discover(str(tmp_path))


def test_manifest_names_missing_file(tmp_path):
    paths = cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row()] * 2, n_files=2)
    paths[1].unlink()
    manifest = tmp_path / "cur2/metadata/BILLING_PERIOD=2025-01/cur2-Manifest.json"
    with pytest.raises(IngestError) as err:
        discover(str(tmp_path))
    assert str(err.value) == (
        f"{manifest}: manifest names data file "
        "'s3://billing-bucket/exports/cur2/data/BILLING_PERIOD=2025-01/cur2-00002.snappy.parquet', "
        f"which does not exist under {tmp_path / 'cur2'}"
    )


@pytest.mark.parametrize("content", [b"", b"PAR1 this is not parquet"], ids=["empty", "corrupt"])
def test_bad_parquet_file(tmp_path, content):
    cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11")])
    bad = tmp_path / "legacy-cur/legacy-cur/year=2024/month=11/legacy-cur-00002.snappy.parquet"
    bad.write_bytes(content)
    (d,) = discover(str(tmp_path))  # legacy Parquet is not opened by discover
    want = "empty file (0 bytes)" if not content else "unreadable or corrupt parquet file"
    with pytest.raises(IngestError, match=rf"^{re.escape(str(bad))}: {re.escape(want)}"):
        read_delivery(duck.connect(), d)


def test_corrupt_cur2_file_is_named_by_discover(tmp_path):
    (path,) = cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row()])
    path.write_bytes(b"garbage")
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: unreadable or corrupt file"):
        discover(str(tmp_path))


def test_corrupt_gzip_csv(tmp_path):
    bad = tmp_path / "cur.csv.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(IngestError, match=rf"^{re.escape(str(bad))}: unreadable or corrupt file"):
        discover(str(tmp_path))


def test_cost_that_does_not_fit_decimal(tmp_path):
    rows = [cb.cur2_row(), cb.cur2_row(line_item_unblended_cost=1.5e9)]  # DECIMAL(18,10) holds < 1e8
    (path,) = cb.write_cur2_parquet(tmp_path, "2025-01", rows)
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError) as err:
        run(d)
    assert str(err.value) == f"{path}: column line_item_unblended_cost value 1500000000.0 does not fit DECIMAL(18,10) (row 2)"


def test_column_of_the_wrong_type_names_the_file(tmp_path):
    good = cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11")])
    bad = cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11", line_item_unblended_cost=True)],
                                  name="legacy-cur-00002.snappy.parquet")
    (d,) = discover(str(tmp_path))
    assert [f.path for f in d.files] == [str(good), str(bad)]
    with pytest.raises(IngestError, match=rf"^{re.escape(str(bad))}: column line_item_unblended_cost has type BOOLEAN, expected a number$"):
        read_delivery(duck.connect(), d)


def test_cost_that_is_not_a_number_in_csv(tmp_path):
    row = cb.legacy_csv_row(**{"identity/LineItemId": "x9", "reservation/EffectiveCost": "12,5",
                               "lineItem/LineItemType": "DiscountedUsage"})
    path = cb.write_legacy_csv(tmp_path / "cur.csv", [row])
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError) as err:
        run(d)
    assert str(err.value) == (
        f"{path}: column reservation/EffectiveCost value 12,5 is not a number that fits DECIMAL(18,10) (line item x9)"
    )


def test_bad_json_map_in_cur2_csv(tmp_path):
    path = cb.write_cur2_csv(tmp_path, "2025-01", [cb.cur2_row(identity_line_item_id="j1")])
    text = gzip.decompress(path.read_bytes()).decode()
    header, line = text.splitlines()[:2]
    cells = line.split(",")
    cells[header.split(",").index("resource_tags")] = "{not json"
    path.write_bytes(gzip.compress(f"{header}\n{','.join(cells)}\n".encode()))
    (d,) = discover(str(tmp_path))
    with pytest.raises(IngestError, match=rf"^{re.escape(str(path))}: column resource_tags value {{not json is not a JSON object \(line item j1\)$"):
        run(d)


def test_other_duckdb_errors_pass_through():
    with pytest.raises(duckdb.Error) as err, ingest_errors():
        duckdb.connect().sql("SELECT CAST('x' AS INTEGER)").fetchall()
    assert not isinstance(err.value, IngestError)
