"""bench/peer.py without the peer: the legacy CUR writer, the cost checks, the billed-cost comparison, rendering.

The legacy writer (DuckDB, from CUR 2.0 files) is checked against an independent one: the
generator's own ``LegacyParquetWriter`` on the same seed and row count, which builds its columns
from the rows in numpy. Both must give the same columns, types and rows.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import pytest

# bench/ is a folder of scripts, not an installed package (pyproject installs the library only).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import peer  # noqa: E402
from transforms import duck  # noqa: E402
from transforms.generate import generate  # noqa: E402

ROWS = 12_000


@pytest.fixture(scope="module")
def months(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    root = tmp_path_factory.mktemp("peer")
    cur2 = generate(str(root / "c"), ["2025-01"], ROWS, seed=3, fmt="cur2-parquet")
    legacy = generate(str(root / "l"), ["2025-01"], ROWS, seed=3, fmt="legacy-parquet")
    con = duck.connect(s3=False)
    try:
        mine = peer.write_legacy(con, [f.path for f in cur2.files], root / "mine")
    finally:
        con.close()
    return {"cur2": [f.path for f in cur2.files], "generator": [f.path for f in legacy.files], "mine": [str(p) for p in mine]}


def test_legacy_writer_matches_the_generators_legacy_export(months: dict[str, list[str]]) -> None:
    con = duck.connect(s3=False)
    try:
        mine = con.sql("SELECT * FROM read_parquet($f, hive_partitioning := false)", params={"f": months["mine"]})
        gen = con.sql("SELECT * FROM read_parquet($f, hive_partitioning := false)", params={"f": months["generator"]})
        assert mine.columns == gen.columns
        assert mine.types == gen.types
        assert "resource_tags_user_team" in mine.columns and "line_item_usage_account_name" not in mine.columns
        for a, b in (("mine", "generator"), ("generator", "mine")):
            [(extra,)] = con.execute(
                "SELECT count(*) FROM (SELECT * FROM read_parquet($a, hive_partitioning := false) "
                "EXCEPT ALL SELECT * FROM read_parquet($b, hive_partitioning := false))",
                {"a": months[a], "b": months[b]},
            ).fetchall()
            assert extra == 0, f"{extra} rows of {a} are not in {b}"
    finally:
        con.close()


def test_legacy_totals_equal_the_cur2_month(months: dict[str, list[str]]) -> None:
    con = duck.connect(s3=False)
    try:
        totals = peer.check_same_costs(con, months["cur2"], months["mine"])
        # Independently: pyarrow over the CUR 2.0 file, summed in Python Decimal.
        import pyarrow.parquet as pq

        table = pq.read_table(months["cur2"][0], columns=["line_item_line_item_type", "line_item_unblended_cost"])
        expected: dict[str, Decimal] = {}
        for t, cost in zip(table.column(0).to_pylist(), table.column(1).to_pylist()):
            expected[t] = expected.get(t, Decimal(0)) + Decimal(cost).quantize(Decimal("1e-10"))
        assert {t: v["unblended"] for t, v in totals.items()} == expected
        assert sum(v["rows"] for v in totals.values()) == ROWS
    finally:
        con.close()


def test_a_changed_cost_is_named_by_line_item_type(months: dict[str, list[str]], tmp_path: Path) -> None:
    con = duck.connect(s3=False)
    try:
        changed = tmp_path / "changed.parquet"
        con.execute(
            "COPY (SELECT * REPLACE (CASE WHEN line_item_line_item_type = 'Tax' THEN line_item_unblended_cost + 0.01 "
            "ELSE line_item_unblended_cost END AS line_item_unblended_cost) FROM read_parquet($f, hive_partitioning := false)) "
            "TO $t (FORMAT parquet)", {"f": months["mine"], "t": str(changed)})
        with pytest.raises(ValueError, match=r"line item type 'Tax' totals .* differ from the CUR 2\.0 month's"):
            peer.check_same_costs(con, months["cur2"], [str(changed)])
    finally:
        con.close()


def test_key_that_collides_with_a_scalar_column_is_refused() -> None:
    with pytest.raises(ValueError, match=r"product key\(s\) \['instance_type'\] would become legacy column 'product_instance_type'"):
        peer.legacy_columns({"product": ["instance_type"]})


def test_keys_differing_in_case_share_one_column_first_non_empty_wins() -> None:
    columns, params = peer.legacy_columns({"resource_tags": ["user_team", "user_Team"], "discount": ["edp_discount"]})
    con = duck.connect(s3=False)
    try:
        got = con.execute(
            f"SELECT {columns['resource_tags_user_team']}, {columns['discount_edp_discount']} FROM (VALUES "
            "(MAP {'user_Team': 'a', 'user_team': 'b'}, MAP {'edp_discount': -1.5}), "
            "(MAP {'user_Team': '', 'user_team': 'b'}, MAP {'x': 0.0}), "
            "(MAP {'other': 'x'}, NULL)) AS t(resource_tags, discount)", params).fetchall()
    finally:
        con.close()
    assert got == [("a", -1.5), ("b", None), ("", None)]


def test_compare_billed_to_the_cent() -> None:
    peer_by = {"Usage": {"rows": 3, "billed": Decimal("10.004")}, "Tax": {"rows": 1, "billed": Decimal("1.00")}}
    same = {"Usage": {"rows": 4, "billed": Decimal("9.000")}, "Adjustment": {"rows": 1, "billed": Decimal("2.0071")}}
    out = peer.compare_billed(peer_by, same)
    assert out["peer"] == Decimal("11.004") and out["curlake"] == Decimal("11.0071")
    assert out["difference"] == Decimal("0.0031") and out["agree_to_cent"]
    off = peer.compare_billed(peer_by, {"Usage": {"rows": 1, "billed": Decimal("11.01")}})
    assert off["difference"] == Decimal("0.006") and not off["agree_to_cent"]


def test_version_tuple_orders_multimethod_pins() -> None:
    assert peer._version_tuple("1.10") < (1, 11) <= peer._version_tuple("1.11.2")
    assert peer._version_tuple("1.9.1") < (1, 11)


def test_ratios_and_rendering_from_hand_made_figures() -> None:
    def process(seconds: float, cpu: float, load: float) -> dict:
        return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_bytes": 2 * 2**30, "peak_tree_rss_bytes": 3 * 2**30,
                "load_before": load, "load_after": load}

    io = {"read_bytes": 3 * 2**20, "written_bytes": 5 * 2**20}
    stages = [{"name": "cost_line_items", "seconds": 10.0, "cpu_seconds": 9.0, **io}, {"name": "focus_1_2", "seconds": 4.0, "cpu_seconds": 2.0, **io},
              {"name": "write_focus", "seconds": 2.0, "cpu_seconds": 1.0, **io}]
    result = {
        "rows": 1_000_000, "widened": True, "date": "2026-11-24T16:00:00+00:00",
        "peer": {"figures": process(20.0, 8.0, 2.0), "output_bytes": 7 * 2**20},
        "curlake": {"figures": process(17.0, 13.0, 3.0), "stages": stages},
        "billed": {"peer": "100.0040000000", "curlake": "100.0000000001", "difference": "-0.0039999999", "agree_to_cent": True},
    }
    r = peer.ratios(result)
    # (a) 20 / 4 and 8 / 2; write_focus 20 / 2; (b) 20 / (17 - 2) and 8 / (13 - 1); (b) with write_focus 20 / (17 - 4).
    assert (r["focus_stage"], r["focus_stage_cpu"], r["write_focus"]) == (5.0, 4.0, 10.0)
    assert r["ingest_and_focus"] == pytest.approx(20 / 15) and r["ingest_and_focus_cpu"] == pytest.approx(8 / 12)
    assert r["ingest_and_write_focus"] == pytest.approx(20 / 13)
    text = peer.render_peer([result])
    assert ("| 1,000,000 | 2.0 / 3.0 | 20.00 (8.0) | 4.00 (2.0) | **5.00x** (4.00x) | 2.00 (1.0) | 10.00x (8.00x) "
            "| 15.00 (12.0) | 10.00 | **1.33x** (0.67x) |") in text
    assert "| 2,048 / 3,072 | 2,048 / 3,072 | 100.004000 | 100.000000 | -0.004000 | agree |" in text
    assert "`focus_1_2` stage 3 MiB read, 5 MiB written; `write_focus` alone 3 MiB read, 5 MiB written; peer output 7 MiB." in text
    assert peer.render_peer([]) == ""


def test_the_month_folder_is_athenas_layout(tmp_path: Path) -> None:
    assert peer.legacy_month_dir(tmp_path, "2025-01") == tmp_path / "legacy-cur" / "legacy-cur" / "year=2025" / "month=1"


_TREE = """
import subprocess, sys, time
own = b"x" * (80 * 2**20)                      # 80 MiB touched in this process
child = subprocess.Popen([sys.executable, "-c", "import time; b = b'y' * (160 * 2**20); time.sleep(1.0)"])
child.wait()
time.sleep(0.3)
"""


def test_measure_process_counts_the_whole_tree_not_the_parents_memory(tmp_path: Path) -> None:
    hoard = b"z" * (400 * 2**20)  # this (the measuring) process is far larger than anything it starts
    figures = peer.measure_process([sys.executable, "-c", _TREE], log=tmp_path / "tree.log")
    del hoard
    mib = 2**20
    # Largest single process: the 160 MiB grandchild plus an interpreter (~10-30 MiB), not the 400 MiB parent.
    assert 160 * mib < figures.peak_rss_bytes < 230 * mib
    # Both processes alive at once: their 240 MiB of touched bytes plus two interpreters.
    assert 240 * mib < figures.peak_tree_rss_bytes < 360 * mib
    assert 1.3 < figures.seconds < 30
    assert figures.cpu_seconds > 0.05  # the grandchild's CPU too (it was reaped by the child)


def test_measure_process_failure_names_the_command_and_shows_the_log(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3; end of .*fail\.log:\n.*column line_item_foo is missing"):
        peer.measure_process([sys.executable, "-c", "import sys; print('column line_item_foo is missing'); sys.exit(3)"],
                             log=tmp_path / "fail.log")


def test_legacy_month_is_cached_and_rewritten_when_the_cur2_month_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import dataset

    monkeypatch.setattr(dataset, "CACHE", tmp_path)
    root = peer.ensure_legacy_month(10_000, widened=False)
    assert root == tmp_path / "legacy-10000-plain"
    [written] = list(peer.legacy_month_dir(root, dataset.PERIOD).glob("*.parquet"))
    first = written.stat().st_mtime_ns
    assert peer.ensure_legacy_month(10_000, widened=False) == root and written.stat().st_mtime_ns == first  # cached
    [cur2] = list((tmp_path / "cur2-10000-plain").rglob("*.parquet"))
    con = duck.connect(s3=False)
    try:
        # A re-delivered CUR 2.0 month (one row fewer): the legacy month must follow it.
        con.execute("COPY (SELECT * FROM read_parquet($f, hive_partitioning := false) LIMIT 9999) TO $t (FORMAT parquet)",
                    {"f": str(cur2), "t": str(tmp_path / "x.parquet")})
        (tmp_path / "x.parquet").replace(cur2)
        peer.ensure_legacy_month(10_000, widened=False)
        [(rows,)] = con.execute("SELECT count(*) FROM read_parquet($f)", {"f": str(written)}).fetchall()
    finally:
        con.close()
    assert rows == 9_999
