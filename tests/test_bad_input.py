"""Bad input through the CLI's path (``materialize_periods``): a clear error naming the file, the
column and the row, and every curated table of the lake exactly as it was.

One lake is built once for the module from a generated month (every asset, twice: the second
run on the same inputs must give identical tables, new versions). Then each bad delivery of
that month is materialized into it and must fail, naming what is wrong, and leave every
table's current version and the catalog's totals unchanged. Two inputs are accepted, with a
documented handling: a restated month with fewer rows replaces the month exactly (and rolls
back), and a re-run of the same delivery replaces it with identical content.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

import cur_builders as cb
from faults import catalog_totals, content_digest, lake_state, priced_rows, priced_total
from orchestration.commands_lake import rollback_partition
from orchestration.run import materialize_periods
from transforms import lake as lake_io
from transforms.generate import generate

PERIOD = "2025-01"


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A lake with every table of 2025-01, materialized twice from the same generated month."""
    tmp = tmp_path_factory.mktemp("bad-input")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        source = str(tmp / "source")
        generate(source, [PERIOD], 10_000, seed=5, fmt="cur2-parquet")
        lake = str(tmp / "lake")
        runs = []
        for _ in range(2):
            outcome = materialize_periods(source, lake, [PERIOD])
            assert outcome.success, [p.error for p in outcome.periods]
            runs.append({t: (versions[PERIOD], content_digest(lake, t, PERIOD)) for t, versions in lake_state(lake).items()})
        yield {"lake": lake, "source": source, "runs": runs, "before": lake_state(lake), "totals": catalog_totals(lake)}


def test_same_inputs_twice_give_identical_tables_as_new_versions(lake):
    first, second = lake["runs"]
    assert sorted(first) == sorted(second) and len(first) >= 10
    for table in first:
        assert first[table][1] == second[table][1], f"{table}: a second run on the same inputs changed its rows"
        assert first[table][0] != second[table][0], f"{table}: the second run did not publish a new version"
    rows, unblended = lake["totals"][PERIOD]
    assert rows == 10_000 and unblended > 0


# Tables built from the business metrics alone: a run with a bad CUR delivery and the same
# metrics files re-publishes them with identical rows.
BUSINESS = ("budgets", "business_metrics_daily")


def attempt(lake: dict, source: Path) -> str:
    """Materialize ``source``'s 2025-01 (with the good month's business metrics) into the shared
    lake; it must fail. Returns the error shown, after checking that no table changed."""
    shutil.copytree(Path(lake["source"]) / "business_metrics", source / "business_metrics")
    try:
        outcome = materialize_periods(str(source), lake["lake"], [PERIOD])
    except SystemExit as exc:  # found while discovering the deliveries, before any run
        message = str(exc.code)
    else:
        assert not outcome.success
        (period,) = outcome.periods
        message = period.error
    after = lake_state(lake["lake"])
    for table, versions in lake["before"].items():
        if table in BUSINESS:
            assert content_digest(lake["lake"], table, PERIOD) == lake["runs"][1][table][1], table
        else:
            assert after[table] == versions, f"{table}: a failed run published a version"
    assert catalog_totals(lake["lake"]) == lake["totals"]
    return message


def one_file(root: Path, rows: list[dict], **kw) -> Path:
    (path,) = cb.write_cur2_parquet(root, PERIOD, rows, **kw)
    return path


# ------------------------------------------------------------------------------ broken files


def test_corrupt_parquet(lake, tmp_path):
    path = one_file(tmp_path, [cb.cur2_row()])
    path.write_bytes(b"PAR1" + b"\x00" * 64 + b"not a parquet footer")
    assert attempt(lake, tmp_path).startswith(f"{path}: unreadable or corrupt file: Invalid Input Error: ")


def test_empty_file(lake, tmp_path):
    path = one_file(tmp_path, [cb.cur2_row()])
    path.write_bytes(b"")
    assert attempt(lake, tmp_path) == f"{path}: empty file (0 bytes)"


def test_truncated_gzip_csv(lake, tmp_path):
    # Large enough that the truncation lies past what DuckDB samples to sniff the file: it is met
    # while the rows stream.
    rows = [cb.cur2_row(identity_line_item_id=f"li-{i}", line_item_unblended_cost=0.5) for i in range(30_000)]
    path = cb.write_cur2_csv(tmp_path, PERIOD, rows)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 3 // 4])
    message = attempt(lake, tmp_path)
    assert re.fullmatch(rf"cost_line_items: {re.escape(str(path))}: unreadable or corrupt (csv )?file: IO Error: Unexpected end of GZIP stream.*", message), message


def test_missing_required_column(lake, tmp_path):
    (path,) = cb.cur2_paths(tmp_path, PERIOD)
    path.parent.mkdir(parents=True)
    pq.write_table(cb.cur2_table([cb.cur2_row()]).drop_columns(["line_item_usage_account_id"]), path)
    assert attempt(lake, tmp_path) == f"cost_line_items: {path}: missing required column line_item_usage_account_id"


def test_column_of_the_wrong_type(lake, tmp_path):
    schema = cb.CUR2_SCHEMA.set(cb.CUR2_SCHEMA.get_field_index("line_item_unblended_cost"),
                                cb.pa.field("line_item_unblended_cost", cb.pa.bool_()))
    (path,) = cb.cur2_paths(tmp_path, PERIOD)
    path.parent.mkdir(parents=True)
    pq.write_table(cb.cur2_table([cb.cur2_row(line_item_unblended_cost=True)], schema), path)
    assert attempt(lake, tmp_path) == f"cost_line_items: {path}: column line_item_unblended_cost has type BOOLEAN, expected a number"


def test_value_of_the_wrong_type_names_the_line_item(lake, tmp_path):
    rows = [cb.cur2_row(identity_line_item_id="ok-1", line_item_unblended_cost=1),
            cb.cur2_row(identity_line_item_id="x9", line_item_unblended_cost="12,5")]
    path = cb.write_cur2_csv(tmp_path, PERIOD, rows)
    assert attempt(lake, tmp_path) == (
        f"cost_line_items: {path}: column line_item_unblended_cost value 12,5 is not a number that fits DECIMAL(18,10) (line item x9)"
    )


def test_unknown_line_item_type(lake, tmp_path):
    path = one_file(tmp_path, [cb.cur2_row(identity_line_item_id="a"), cb.cur2_row(identity_line_item_id="b"),
                               cb.cur2_row(identity_line_item_id="c", line_item_line_item_type="SavingsPlanBonus")])
    assert attempt(lake, tmp_path) == (
        f"cost_line_items: {path}: unknown line item type 'SavingsPlanBonus' in column line_item_line_item_type (row 3)"
    )


def test_bytes_that_are_not_utf8_name_the_line(lake, tmp_path):
    rows = [cb.cur2_row(identity_line_item_id=f"li-{i}", line_item_usage_account_name="caf\u00e9" if i == 2 else "ok")
            for i in range(4)]
    path = cb.write_cur2_csv(tmp_path, PERIOD, rows)
    text = gzip.decompress(path.read_bytes()).decode()
    path.write_bytes(gzip.compress(text.encode("latin-1")))  # the é of line 4 becomes the lone byte 0xe9
    message = attempt(lake, tmp_path)
    assert message.startswith(f"cost_line_items: {path}: unreadable or corrupt csv file: line 4: Invalid unicode"), message


def test_header_that_is_not_utf8(lake, tmp_path):
    row = cb.legacy_csv_row(PERIOD, **{"resourceTags/user:\u00c9quipe": "x"})
    path = cb.write_legacy_csv(tmp_path / "cur.csv", [row])
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    header = path.read_bytes().split(b"\n")[0]
    assert attempt(lake, tmp_path) == f"{path}: line 1 (the header) is not UTF-8: byte 0xc9 at byte {header.index(0xc9) + 1}"


# ------------------------------------------------------------------------------ wrong deliveries


def test_billing_period_of_a_row_disagrees_with_its_folder(lake, tmp_path):
    path = one_file(tmp_path, [cb.cur2_row(PERIOD, identity_line_item_id="a"), cb.cur2_row("2025-02", identity_line_item_id="b")])
    assert attempt(lake, tmp_path) == (
        f"cost_line_items: {path}: bill_billing_period_start_date is in billing period 2025-02 but the file was "
        f"delivered for billing period {PERIOD} (its folder or manifest) (row 2)"
    )


def test_manifest_billing_period_disagrees_with_its_folder(lake, tmp_path):
    one_file(tmp_path, [cb.cur2_row()])
    manifest = tmp_path / f"cur2/metadata/BILLING_PERIOD={PERIOD}/cur2-Manifest.json"
    doc = json.loads(manifest.read_text())
    doc["billingPeriod"]["start"] = "2024-12-01T00:00:00.000Z"
    manifest.write_text(json.dumps(doc))
    assert attempt(lake, tmp_path) == (
        f"{manifest}: manifest billing period 2024-12 disagrees with its folder BILLING_PERIOD={PERIOD}"
    )


def test_month_delivered_twice_by_two_exports(lake, tmp_path):
    one_file(tmp_path, [cb.cur2_row()], export="cur2")
    one_file(tmp_path, [cb.cur2_row()], export="cur2-copy")
    manifests = [tmp_path / f"{e}/metadata/BILLING_PERIOD={PERIOD}/{e}-Manifest.json" for e in ("cur2", "cur2-copy")]
    assert attempt(lake, tmp_path) == (
        f"billing period {PERIOD} is delivered twice as cur2-parquet: {manifests[0]}; {manifests[1]}"
    )


def test_file_delivered_twice_in_one_delivery(lake, tmp_path):
    """The same file under two names, both in the manifest: the reconciliation agrees (it reads
    the same files), so the duplicate line items are what stops it."""
    rows = [cb.cur2_row(identity_line_item_id=f"li-{i}", line_item_unblended_cost=1.25) for i in range(3)]
    first, copy = cb.write_cur2_parquet(tmp_path, PERIOD, rows * 2, n_files=2)  # round-robin: both files hold all 3
    message = attempt(lake, tmp_path)
    assert message.startswith("cost_line_items: 1 blocking gate(s) failed"), message
    failures = gate_failures(lake["lake"], "no_duplicate_line_items")
    assert failures == [
        "no_duplicate_keys, columns (line_item_id, usage_start): 3 duplicated key(s): "
        + "; ".join(f"(line_item_id='li-{i}', usage_start=2025-01-03T05:00:00) 2 times at files {first}, {copy}" for i in range(3))
    ]


def test_costs_in_two_currencies(lake, tmp_path):
    rows = [cb.cur2_row(identity_line_item_id="usd-1", line_item_unblended_cost=2.5),
            cb.cur2_row(identity_line_item_id="usd-2", line_item_unblended_cost=1.0),
            cb.cur2_row(identity_line_item_id="eur-1", line_item_unblended_cost=3.0, line_item_currency_code="EUR")]
    path = one_file(tmp_path, rows)
    assert attempt(lake, tmp_path).startswith("cost_line_items: 1 blocking gate(s) failed")
    assert gate_failures(lake["lake"], "single_currency") == [
        f"1 row(s) in EUR besides 2 in USD; first in {path} (line item eur-1)"
    ]


def gate_failures(lake: str, check: str) -> list[str]:
    """The failure messages of ``check`` in the latest run's evaluation (what the UI shows)."""
    instance = dg.DagsterInstance.get()
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("cost_line_items"), check)])[dg.AssetCheckKey(dg.AssetKey("cost_line_items"), check)]
    evaluation = record.event.dagster_event.event_specific_data
    assert not evaluation.passed
    return evaluation.metadata["failures"].value


# ------------------------------------------------------------------------------ business metrics


def test_metrics_file_with_an_unknown_team(lake, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(lake["source"], source)
    metrics = source / "business_metrics" / "metrics_daily.csv"
    lines = metrics.read_text().splitlines()
    cells = lines[5].split(",")  # line 6 of the file
    day, team = cells[0], cells[1]
    cells[1] = "growth-hacking"
    lines[5] = ",".join(cells)
    metrics.write_text("\n".join(lines) + "\n")
    before = lake_state(lake["lake"])

    outcome = materialize_periods(str(source), lake["lake"], [PERIOD])

    assert not outcome.success
    (period,) = outcome.periods
    assert ("business_metrics_daily", "metrics_file_valid", False, True) in period.checks
    assert period.error.startswith("business_metrics_daily: 1 blocking gate(s) failed")
    after = lake_state(lake["lake"])
    # cost_line_items re-published the unchanged delivery (same totals); everything that reads the
    # metrics kept its version: business_metrics_daily, and cost_allocation downstream of it.
    assert catalog_totals(lake["lake"]) == lake["totals"]
    for table in ("business_metrics_daily", "cost_allocation", "shared_cost_split", "unit_economics"):
        assert after[table] == before[table], table
    file, failures = metrics_failures()
    assert file == str(metrics)
    assert failures == [
        "expect_column_values_to_be_in_set, column 'team' (known team): 1 unexpected value: 'growth-hacking' at line 6",
        f"missing_days, column 'date': 1 (team, date) pair with no row: team '{team}' on {day}",
    ]
    # Leave the shared lake as the other tests expect it.
    lake["before"] = after


def metrics_failures() -> tuple[str, list[str]]:
    """The file and failure messages of the latest evaluation of the metrics file's gate."""
    instance = dg.DagsterInstance.get()
    key = dg.AssetCheckKey(dg.AssetKey("business_metrics_daily"), "metrics_file_valid")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    metadata = record.event.dagster_event.event_specific_data.metadata
    return metadata["file"].value, metadata["failures"].value


# ------------------------------------------------------------------------------ accepted


def test_restated_month_with_fewer_rows_replaces_it_exactly_and_rolls_back(tmp_path, dagster_home, monkeypatch):
    """AWS restates a closed month in place: fewer files, fewer rows. The manifest names the
    current files; the one it no longer names is ignored. The replaced version is kept."""
    import orchestration.run as run
    from orchestration.assets.cost_line_items import cost_line_items

    monkeypatch.setattr(run, "ASSETS", [cost_line_items])
    lake = str(tmp_path / "lake")
    source = tmp_path / "export"
    cb.write_cur2_parquet(source, PERIOD, priced_rows(PERIOD, "li", 1500), n_files=3, execution_id="exec-1")
    assert run.materialize_periods(str(source), lake, [PERIOD]).success
    first = lake_io.current_version(lake, "cost_line_items", PERIOD)

    # The restatement: the first 900 line items in two files; the third file stays in the folder.
    kept, _ = cb.write_cur2_parquet(source, PERIOD, priced_rows(PERIOD, "li", 900), n_files=2, execution_id="exec-2")
    stale = cb.cur2_paths(source, PERIOD, n_files=3)[2]
    assert stale.exists()
    assert run.materialize_periods(str(source), lake, [PERIOD]).success

    assert catalog_totals(lake) == {PERIOD: (900, priced_total(900))}
    con = lake_io.duckdb.connect()
    files = {f for (f,) in con.execute(f"SELECT DISTINCT source_file FROM {lake_io.read_partition_sql(lake, 'cost_line_items', PERIOD)}").fetchall()}
    assert str(stale) not in files and str(kept) in files
    restated = lake_io.current_version(lake, "cost_line_items", PERIOD)
    assert lake_io.list_versions(lake, "cost_line_items", PERIOD) == [first, restated]

    (done,) = rollback_partition(lake, PERIOD)
    assert (done.table, done.from_version, done.to_version, done.from_rows, done.to_rows) == ("cost_line_items", restated, first, 900, 1500)
    assert catalog_totals(lake) == {PERIOD: (1500, priced_total(1500))}
    rollback_partition(lake, PERIOD, ["cost_line_items"], restated)  # and undone, by name
    assert catalog_totals(lake) == {PERIOD: (900, priced_total(900))}
