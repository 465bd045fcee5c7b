"""discover(): formats, periods, manifests, re-deliveries in place."""

from __future__ import annotations

import json
import logging

import pyarrow.parquet as pq
import pytest

import cur_builders as cb
from transforms.discover import Delivery, IngestError, SourceFile, discover


def _mixed_tree(root):
    """CUR 2.0 for 2025-01..02, legacy Parquet for 2024-11..12, legacy CSV for 2024-10, plus noise."""
    jan = cb.write_cur2_parquet(root, "2025-01", [cb.cur2_row("2025-01", line_item_unblended_cost=1.0)] * 4,
                                n_files=2, execution_id="exec-jan")
    feb = cb.write_cur2_parquet(root, "2025-02", [cb.cur2_row("2025-02")], execution_id="exec-feb")
    nov = cb.write_legacy_parquet(root, "2024-11", [cb.legacy_parquet_row("2024-11")])
    dec = cb.write_legacy_parquet(root, "2024-12", [cb.legacy_parquet_row("2024-12")])
    oct_ = cb.write_legacy_csv(root / "old-csv-report" / "cur-oct.csv.gz", [cb.legacy_csv_row("2024-10")])
    # What else the generator writes next to the bills: not cost data, skipped.
    (root / "business_metrics").mkdir()
    (root / "business_metrics" / "metrics_daily.csv").write_text("date,team,product,revenue\n2025-01-01,ads,ads,1\n")
    (root / "anomalies.json").write_text(json.dumps({"anomalies": []}))
    return {"2025-01": jan, "2025-02": feb, "2024-11": [nov], "2024-12": [dec], "2024-10": [oct_]}


def test_tree_with_cur2_and_legacy(tmp_path):
    written = _mixed_tree(tmp_path)
    found = discover(str(tmp_path))
    assert [(d.billing_period, d.format) for d in found] == [
        ("2024-10", "legacy-csv"), ("2024-11", "legacy-parquet"), ("2024-12", "legacy-parquet"),
        ("2025-01", "cur2-parquet"), ("2025-02", "cur2-parquet"),
    ]
    for d in found:
        assert [f.path for f in d.files] == sorted(str(p) for p in written[d.billing_period])
        assert all(f.size > 0 and f.etag and f.mtime for f in d.files)
    by_period = {d.billing_period: d for d in found}
    assert by_period["2025-01"].delivery_id == "exec-jan"
    assert by_period["2025-01"].manifest.path == str(tmp_path / "cur2/metadata/BILLING_PERIOD=2025-01/cur2-Manifest.json")
    assert by_period["2024-11"].manifest is None
    assert len(by_period["2024-11"].delivery_id) == 32  # hash of (path, size, etag)
    assert len({d.fingerprint for d in found}) == 5


def test_same_period_in_two_formats_prefers_cur2(tmp_path, caplog):
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01")])
    legacy = cb.write_legacy_parquet(tmp_path, "2025-01", [cb.legacy_parquet_row("2025-01")])
    with caplog.at_level(logging.WARNING, logger="transforms.discover"):
        (d,) = discover(str(tmp_path))
    assert d.format == "cur2-parquet"
    assert "ignoring legacy-parquet" in caplog.text and str(legacy.parent) in caplog.text


def test_two_exports_of_one_period_is_an_error(tmp_path):
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01")], export="cur2-a")
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01")], export="cur2-b")
    with pytest.raises(IngestError, match=r"2025-01 is delivered twice as cur2-parquet: .*cur2-a.*cur2-b"):
        discover(str(tmp_path))


def test_fingerprint_changes_when_a_file_is_overwritten_in_place(tmp_path):
    paths = cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01")] * 2, n_files=2)
    (before,) = discover(str(tmp_path))
    (again,) = discover(str(tmp_path))
    assert again == before and again.fingerprint == before.fingerprint  # stable when nothing changed
    # AWS re-delivers: same key, new content (here: same size too, one row's cost changed).
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01", line_item_unblended_cost=9.0)] * 2,
                          n_files=2, manifest=False)
    cb.touch_later(paths[0])
    cb.touch_later(paths[1])
    (after,) = discover(str(tmp_path))
    assert [f.path for f in after.files] == [f.path for f in before.files]
    assert after.fingerprint != before.fingerprint
    assert after.delivery_id == before.delivery_id == "exec-0001"  # the manifest id was not changed here


def test_delivery_id_without_manifest_follows_the_files(tmp_path):
    path = cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11")])
    (before,) = discover(str(tmp_path))
    cb.write_legacy_parquet(tmp_path, "2024-11", [cb.legacy_parquet_row("2024-11", line_item_unblended_cost=3.0)])
    cb.touch_later(path)
    (after,) = discover(str(tmp_path))
    assert after.delivery_id != before.delivery_id and after.fingerprint != before.fingerprint


def test_fingerprint_covers_manifest_etag():
    f = SourceFile("s3://b/cur2/data/BILLING_PERIOD=2025-01/a.parquet", 10, "e1", None)
    m1 = SourceFile("s3://b/cur2/metadata/BILLING_PERIOD=2025-01/cur2-Manifest.json", 5, "m1", None)
    m2 = SourceFile(m1.path, 5, "m2", None)
    one = Delivery("2025-01", "cur2-parquet", (f,), m1, "x")
    assert one.fingerprint != Delivery("2025-01", "cur2-parquet", (f,), m2, "x").fingerprint
    assert one.fingerprint != Delivery("2025-01", "cur2-parquet", (SourceFile(f.path, 11, "e1", None),), m1, "x").fingerprint


def test_versioned_export_reads_only_the_files_of_the_newest_manifest(tmp_path):
    folder = tmp_path / "cur2" / "data" / "BILLING_PERIOD=2025-01"
    old = folder / "20250104T0300Z-aaa" / "cur2-00001.snappy.parquet"
    new = folder / "20250105T0300Z-bbb" / "cur2-00001.snappy.parquet"
    for p in (old, new):
        p.parent.mkdir(parents=True)
        pq.write_table(cb.cur2_table([cb.cur2_row("2025-01")]), p)
    manifest = cb.write_manifest(tmp_path, "2025-01", [new], execution_id="exec-bbb")
    (d,) = discover(str(tmp_path))
    assert [f.path for f in d.files] == [str(new)]
    assert (d.delivery_id, d.manifest.path) == ("exec-bbb", str(manifest))


def test_versioned_folders_without_manifest_are_ambiguous(tmp_path):
    for sub in ("v1", "v2"):
        p = tmp_path / "cur2" / "data" / "BILLING_PERIOD=2025-01" / sub / "cur2-00001.snappy.parquet"
        p.parent.mkdir(parents=True)
        pq.write_table(cb.cur2_table([cb.cur2_row("2025-01")]), p)
    with pytest.raises(IngestError, match=r"BILLING_PERIOD=2025-01: data files in several folders .*no manifest"):
        discover(str(tmp_path))


def test_legacy_csv_manifest_selects_the_current_assembly(tmp_path):
    period_dir = tmp_path / "prefix" / "report" / "20241001-20241101"
    old = cb.write_legacy_csv(period_dir / "asm-old" / "report-1.csv.gz", [cb.legacy_csv_row("2024-10")])
    new = cb.write_legacy_csv(period_dir / "asm-new" / "report-1.csv.gz", [cb.legacy_csv_row("2024-10")])
    (period_dir / "report-Manifest.json").write_text(json.dumps({
        "assemblyId": "asm-new",
        "billingPeriod": {"start": "20241001T000000.000Z", "end": "20241101T000000.000Z"},
        "reportKeys": ["prefix/report/20241001-20241101/asm-new/report-1.csv.gz"],
    }))
    (d,) = discover(str(tmp_path))
    assert (d.format, d.billing_period, d.delivery_id) == ("legacy-csv", "2024-10", "asm-new")
    assert [f.path for f in d.files] == [str(new)] and str(old) not in {f.path for f in d.files}


def test_nothing_recognizable(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "metrics.csv").write_text("date,revenue\n2025-01-01,3\n")
    with pytest.raises(IngestError) as err:
        discover(str(tmp_path))
    message = str(err.value)
    assert str(tmp_path) in message and "BILLING_PERIOD=YYYY-MM" in message and "year=YYYY/month=M" in message
    assert "lineItem/LineItemType" in message


def test_missing_source(tmp_path):
    with pytest.raises(IngestError, match=r"no files found"):
        discover(str(tmp_path / "does-not-exist"))
