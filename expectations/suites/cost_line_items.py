"""Expectation suites for `cost_line_items` (transforms/schema.py), run on DuckDB-computed profiles.

Whatever the size of the month, GX checks a few small frames: the table's schema, the distinct
values of the categorical columns with their row counts, and the null count of each key
column. Each outcome carries ``details["check"]``, the gate it belongs to (`CHECKS`), so an
orchestrator can group outcomes without parsing expectation names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

import duckdb
import pandas as pd

from expectations import profiles, sql_checks
from expectations.adapter import ExpectationOutcome, SuiteResult, combine, run_suite, show
from expectations.sources import TableOrRelation
from transforms import periods, schema

SCHEMA, KNOWN_VALUES, NO_NULL_KEYS, BILLING_PERIOD, NOT_EMPTY = (
    "schema", "known_values", "no_null_keys", "billing_period", "not_empty",
)
CHECKS: dict[str, str] = {
    SCHEMA: "Every canonical column is present with its DuckDB type.",
    KNOWN_VALUES: "line_item_type, charge_category and purchase_option take only known values.",
    NO_NULL_KEYS: "No nulls in key columns (the schema's non-nullable columns).",
    BILLING_PERIOD: "billing_period of every row equals the partition's.",
    NOT_EMPTY: "The table has at least one row.",
}

# Categorical columns and the values they may take.
KNOWN: dict[str, frozenset[str]] = {
    "line_item_type": schema.LINE_ITEM_TYPES,
    "charge_category": schema.CHARGE_CATEGORIES,
    "purchase_option": schema.PURCHASE_OPTIONS,
}
KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.COST_LINE_ITEMS if not c.nullable)


def _normalize_type(type_name: str | None) -> str | None:
    """'MAP(VARCHAR, VARCHAR)' and 'map(varchar,varchar)' name the same DuckDB type."""
    return None if type_name is None else "".join(type_name.split()).upper()


def schema_suite(schema_frame: pd.DataFrame) -> SuiteResult:
    """Each canonical column exists; each present one has its canonical type."""
    import great_expectations as gx

    present = pd.DataFrame(columns=list(schema_frame["column"]))
    exists = run_suite(
        [
            gx.expectations.ExpectColumnToExist(column=c.name, description="canonical column is present")
            for c in schema.COST_LINE_ITEMS
        ],
        present,
        "cost_line_items schema: columns",
    )
    actual = dict(zip(schema_frame["column"], schema_frame["type"], strict=True))
    types = pd.DataFrame(
        {
            "type": [_normalize_type(actual.get(c.name)) for c in schema.COST_LINE_ITEMS],
            "expected_type": [_normalize_type(c.type) for c in schema.COST_LINE_ITEMS],
        },
        index=pd.Index([c.name for c in schema.COST_LINE_ITEMS], name="column"),
    )
    typed = run_suite(
        [
            gx.expectations.ExpectColumnPairValuesToBeEqual(
                column_A="type",
                column_B="expected_type",
                ignore_row_if="either_value_is_missing",
                description="actual DuckDB type, canonical type",
            )
        ],
        types,
        "cost_line_items schema: types",
    )
    return combine("cost_line_items schema", exists, typed)


def value_set_suite(column: str, counts: pd.DataFrame, allowed: Collection[str], description: str) -> SuiteResult:
    """The distinct values of ``column`` (a `profiles.categorical_frame`) are all in ``allowed``.

    An unexpected value is reported with the number of rows that carry it.
    """
    import great_expectations as gx

    frame = pd.DataFrame({column: counts["value"]})
    result = run_suite(
        [gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(allowed), description=description)],
        frame,
        f"cost_line_items {column}",
    )
    rows_of = dict(zip(counts["value"], counts["rows"], strict=True))
    outcomes = []
    for o in result.outcomes:
        bad = o.details.get("unexpected_values", [])
        if not o.success and bad:
            per_value = {str(v): int(rows_of.get(v, 0)) for v in bad}
            message = o.message() + " (rows per value: " + ", ".join(f"{show(v)}: {n}" for v, n in per_value.items()) + ")"
            o = dataclasses.replace(o, details={**o.details, "rows_per_value": per_value, "message": message})
        outcomes.append(o)
    return SuiteResult(result.suite, result.success, tuple(outcomes))


def null_suite(null_counts: pd.DataFrame) -> SuiteResult:
    """Every column of a `profiles.null_count_frame` has zero nulls; failures name the columns."""
    import great_expectations as gx

    frame = null_counts.set_index("column")
    return run_suite(
        [gx.expectations.ExpectColumnValuesToBeBetween(column="nulls", max_value=0, description="null count of a key column")],
        frame,
        "cost_line_items key columns",
    )


def _tagged(result: SuiteResult, check: str) -> list[ExpectationOutcome]:
    return [dataclasses.replace(o, details={**o.details, "check": check}) for o in result.outcomes]


def check_cost_line_items(
    con: duckdb.DuckDBPyConnection, table_or_relation: TableOrRelation, billing_period: str
) -> SuiteResult:
    """Every gate of a staged `cost_line_items` partition, as one result.

    Profiles are computed by DuckDB (a handful of scans, whatever the row count); columns that
    are missing are reported by the schema check and skipped by the others.
    """
    periods.validate(billing_period)
    shape = profiles.schema_frame(con, table_or_relation)
    present = set(shape["column"])
    outcomes = _tagged(schema_suite(shape), SCHEMA)
    for column, allowed in KNOWN.items():
        if column in present:
            counts = profiles.categorical_frame(con, table_or_relation, column)
            outcomes += _tagged(value_set_suite(column, counts, allowed, f"known {column} values"), KNOWN_VALUES)
    keys = [c for c in KEY_COLUMNS if c in present]
    outcomes += _tagged(null_suite(profiles.null_count_frame(con, table_or_relation, keys)), NO_NULL_KEYS)
    if "billing_period" in present:
        counts = profiles.categorical_frame(con, table_or_relation, "billing_period")
        in_period = value_set_suite("billing_period", counts, {billing_period}, f"partition {billing_period}")
        outcomes += _tagged(in_period, BILLING_PERIOD)
    not_empty = sql_checks.row_count_positive(con, table_or_relation)
    outcomes.append(dataclasses.replace(not_empty, details={**not_empty.details, "check": NOT_EMPTY}))
    return combine(f"cost_line_items {billing_period}", *outcomes)
