"""`cost_line_items`: every CUR line item of a billing period, in the canonical typed schema.

Write-audit-publish with one write: the delivery is read once and written straight to the new
version's Parquet files in the lake's staging area; the gates below audit those files where they
lie, and only then are they published, by renaming, never rewritten (transforms.lake.stage_partition).
"""


import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import Decimal

import dagster as dg

from orchestration.gates import Gate, check_specs, gated_publish
from orchestration.partitions import billing_periods
from orchestration.resources import CurlakeSettings
from transforms import duck, schema
from transforms.day_digests import day_digests
from transforms.dictionary import build_analyst_catalog
from transforms.discover import Delivery, discover, verify_unchanged
from transforms.lake import StagedPartition, stage_partition
from transforms.readers import ingest_errors, read_delivery
from transforms.reconcile import source_totals

TABLE = "cost_line_items"
RECONCILIATION_TOLERANCE = Decimal("0.000001")

# Gate name in Dagster -> check group of expectations.suites.cost_line_items.CHECKS.
SUITE_GATES = {
    "schema_and_types": "schema",
    "known_line_item_types": "known_values",
    "no_null_keys": "no_null_keys",
    "billing_period_matches_partition": "billing_period",
    "not_empty": "not_empty",
}
RECONCILIATION = (
    "reconciles_with_source",
    "Row count, unblended and amortized totals equal the source files' own totals (to 1e-6), "
    "computed independently with pyarrow.",
)
NO_DUPLICATES = (
    "no_duplicate_line_items",
    "No line item appears twice (line_item_id and usage hour, the CUR's unique key): a file or a "
    "delivery read twice would double count, and the reconciliation, reading the same files, would agree.",
)
SINGLE_CURRENCY = (
    "single_currency",
    "Every line item of the billing period is in one currency: money in two currencies cannot be "
    "summed, and every curated table sums it.",
)


def gate_declarations() -> list[tuple[str, str, bool]]:
    from expectations.suites.cost_line_items import CHECKS

    return [(gate, CHECKS[group], True) for gate, group in SUITE_GATES.items()] + [(*RECONCILIATION, True), (*NO_DUPLICATES, True), (*SINGLE_CURRENCY, True)]


# The files keep the delivery's order, without a global sort: CUR deliveries are written in time
# order, so row groups already span a few days each and readers filtering on a day skip the rest.
# A sort by (day, account, service) cost a third of ingestion at 10M rows and spilled the whole
# month to disk at 100M (BENCHMARKS.md).
STAGED = "staged"


def find_delivery(source: str, billing_period: str) -> Delivery:
    deliveries = [d for d in discover(source) if d.billing_period == billing_period]
    if not deliveries:
        found = sorted({d.billing_period for d in discover(source)})
        raise dg.Failure(
            f"No delivery for billing period {billing_period} under {source}. "
            f"Billing periods found there: {', '.join(found) or 'none'}."
        )
    if len(deliveries) > 1:
        raise dg.Failure(
            f"Billing period {billing_period} is delivered in several formats under {source} "
            f"({', '.join(d.format for d in deliveries)}); point --source at one export."
        )
    return deliveries[0]


def audit(con, staged: str, delivery: Delivery) -> list[Gate]:
    """The gates of cost_line_items over the staged table."""
    from expectations.suites.cost_line_items import CHECKS, check_cost_line_items

    suite = check_cost_line_items(con, staged, delivery.billing_period)
    gates = []
    for gate, group in SUITE_GATES.items():
        outcomes = [o for o in suite.outcomes if o.details.get("check") == group]
        failures = [o.message() for o in outcomes if not o.success]
        gates.append(Gate(gate, not failures, CHECKS[group], {"expectations": len(outcomes), "failures": failures}))
    gates.append(_reconciliation_gate(con, staged, delivery))
    gates.append(_duplicates_gate(con, staged))
    gates.append(_currency_gate(con, staged))
    return gates


def _duplicates_gate(con, staged: str) -> Gate:
    """Line items sharing (line_item_id, usage_start), with the files they come from; rows without an id are not compared."""
    from expectations.sql_checks import no_duplicate_keys

    keyed = con.sql(f'SELECT line_item_id, usage_start, source_file FROM "{staged}" WHERE line_item_id IS NOT NULL')
    outcome = no_duplicate_keys(con, keyed, ["line_item_id", "usage_start"], row_column="source_file", row_label="file")
    return Gate(NO_DUPLICATES[0], outcome.success, NO_DUPLICATES[1],
                {"duplicated_keys": outcome.observed, "failures": [] if outcome.success else [outcome.message()]})


def _currency_gate(con, staged: str) -> Gate:
    """One currency per billing period; the others are named with their rows and a first example."""
    rows = con.execute(
        "SELECT currency, count(*), min(source_file), arg_min(coalesce(line_item_id, '(no id)'), source_file) "
        f'FROM "{staged}" GROUP BY currency ORDER BY count(*) DESC, currency'
    ).fetchall()
    failures = [
        f"{n} row(s) in {currency} besides {rows[0][1]} in {rows[0][0]}; first in {path} (line item {example})"
        for currency, n, path, example in rows[1:]
    ]
    return Gate(SINGLE_CURRENCY[0], not failures, SINGLE_CURRENCY[1],
                {"currencies": {c: n for c, n, *_ in rows}, "failures": failures})


def _reconciliation_gate(con, staged: str, delivery: Delivery) -> Gate:
    expected = source_totals(delivery)
    ((rows, unblended, amortized),) = con.execute(  # fetchall: DuckDB refuses new work while a result is pending
        f'SELECT count(*), coalesce(sum(unblended_cost), 0), coalesce(sum(amortized_cost), 0) FROM "{staged}"'
    ).fetchall()
    diffs = {
        "rows": rows - int(expected["rows"]),
        "unblended_cost": Decimal(str(unblended)) - Decimal(str(expected["unblended_cost"])),
        "amortized_cost": Decimal(str(amortized)) - Decimal(str(expected["amortized_cost"])),
    }
    passed = diffs["rows"] == 0 and all(abs(diffs[k]) <= RECONCILIATION_TOLERANCE for k in ("unblended_cost", "amortized_cost"))
    return Gate(
        "reconciles_with_source",
        passed,
        RECONCILIATION[1],
        {
            "rows": rows,
            "source_rows": int(expected["rows"]),
            "unblended_cost": unblended,
            "source_unblended_cost": expected["unblended_cost"],
            "amortized_cost": amortized,
            "source_amortized_cost": expected["amortized_cost"],
            "difference": diffs,
        },
    )


@contextmanager
def staged_month(con, settings: CurlakeSettings, delivery: Delivery) -> Iterator[tuple[StagedPartition, list[Gate], dict]]:
    """The delivery written once as the partition's next version (unpublished), its gates and
    the lineage to publish it with.

    The rows stream from the source files through the conforming query into Parquet in the
    lake's staging area; the gates read those files (view ``staged``), so what is audited is
    byte for byte what ``publish()`` makes live. Leaving the block unpublished deletes them.
    """
    with ExitStack() as stack:
        # Row-level problems, and files that cannot be read, surface as IngestError naming the file.
        with ingest_errors([f.path for f in delivery.files]):
            staged = stack.enter_context(
                stage_partition(con, read_delivery(con, delivery), settings.lake, TABLE, delivery.billing_period)
            )
        # The files hold no billing_period (the Hive key): the view reads it from the path, as every reader will.
        con.execute(f'CREATE VIEW "{STAGED}" AS SELECT * FROM {staged.read_sql()}')
        gates = audit(con, STAGED, delivery)
        # An overwrite during the read would publish rows of two deliveries, or lineage of another.
        verify_unchanged(delivery)
        yield staged, gates, lineage(con, delivery)


# Where a row was read from, not what it says: a re-delivery moves unchanged rows to other files
# and gives every row its new delivery_id, which must not make an unchanged day look changed.
PROVENANCE_COLUMNS = ("source_file", "delivery_id")


def lineage(con, delivery: Delivery) -> dict:
    """What the version is made of: the delivery, and a digest per usage day of its rows (without
    provenance) that lets day-scoped tables rebuild only the days a re-delivery changed."""
    exclude = ", ".join(f'"{c}"' for c in PROVENANCE_COLUMNS)
    return {
        "delivery_id": delivery.delivery_id, "fingerprint": delivery.fingerprint, "format": delivery.format,
        "day_digests": day_digests(con, f'SELECT * EXCLUDE ({exclude}) FROM "{STAGED}"'),
    }


@dg.asset(
    name=TABLE,
    partitions_def=billing_periods,
    check_specs=check_specs(TABLE, gate_declarations()),
    group_name="ingest",
    kinds={"duckdb", "parquet", "s3"},
    description=__doc__,
    metadata={"dagster/column_schema": dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=c.description) for c in schema.COST_LINE_ITEMS
    ])},
)
def cost_line_items(context: dg.AssetExecutionContext, settings: CurlakeSettings):
    period = context.partition_key
    delivery = find_delivery(settings.source, period)
    context.log.info(f"{period}: {delivery.format} delivery {delivery.delivery_id}, {len(delivery.files)} file(s)")
    with tempfile.TemporaryDirectory(prefix="curlake-stage-") as workdir:
        # Nothing is kept in DuckDB between steps, so an in-memory database; spills go to workdir.
        con = duck.connect(memory_limit=settings.duckdb_memory_limit, temp_directory=os.path.join(workdir, "spill"))
        try:
            with staged_month(con, settings, delivery) as (staged, gates, provenance):

                def publish() -> dict:
                    result = staged.publish(lineage=provenance)
                    build_analyst_catalog(settings.lake)
                    totals = next(g.observed for g in gates if g.name == RECONCILIATION[0])
                    return {
                        "rows": result.rows, "version": result.version, "bytes": result.bytes,
                        "unblended_cost": totals["unblended_cost"], "amortized_cost": totals["amortized_cost"],
                        "source_format": delivery.format, "delivery_id": delivery.delivery_id,
                        "fingerprint": delivery.fingerprint, "files": len(delivery.files),
                    }

                yield from gated_publish(context, gates, publish)
        finally:
            con.close()
