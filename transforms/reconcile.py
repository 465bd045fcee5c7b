"""Totals of a delivery computed straight from its raw files, independently of the DuckDB SQL.

``source_totals`` is the other leg of the ingestion reconciliation: it streams the files with
pyarrow (Parquet row batches, CSV blocks: bounded memory whatever the month's size), sums the
cost columns with ``pyarrow.compute`` and applies the amortized formula of FINOPS_DEFINITIONS.md
itself. If ``SUM(unblended_cost)`` / ``SUM(amortized_cost)`` of ``read_delivery`` differ from
these, the SQL lost, duplicated or mis-typed rows.

Exactness: costs become decimal128 with 10 decimals per row, as the canonical DECIMAL(18,10):
Parquet doubles are rounded to nearest, CSV text is parsed as decimal and rounded half away
from zero (DuckDB's rule), and sums are exact. Only the column *names* are shared with the
readers (``athena_name`` for legacy CSV headers), none of the arithmetic.

The formula is linear in its columns, so each batch is reduced to per-(line item type, has a
reservation ARN) sums of the columns it needs, and the formula is applied to the sums.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from transforms import storage
from transforms.readers.columns import athena_name
from transforms.readers.errors import STORAGE_ERRORS, IngestError
from transforms.readers.sources import csv_header

if TYPE_CHECKING:
    from transforms.discover import Delivery

TYPE = "line_item_line_item_type"
RI_ARN = "reservation_reservation_a_r_n"
UNBLENDED = "line_item_unblended_cost"
SP_EFFECTIVE = "savings_plan_savings_plan_effective_cost"
SP_TOTAL = "savings_plan_total_commitment_to_date"
SP_USED = "savings_plan_used_commitment"
RI_EFFECTIVE = "reservation_effective_cost"
RI_UNUSED_UPFRONT = "reservation_unused_amortized_upfront_fee_for_billing_period"
RI_UNUSED_RECURRING = "reservation_unused_recurring_fee"
MONEY = (UNBLENDED, SP_EFFECTIVE, SP_TOTAL, SP_USED, RI_EFFECTIVE, RI_UNUSED_UPFRONT, RI_UNUSED_RECURRING)

_DECIMAL = pa.decimal128(38, 10)
_WIDE = pa.decimal128(38, 20)
_BATCH_ROWS = 256 * 1024
_CSV_BLOCK = 16 << 20


def source_totals(delivery: Delivery) -> dict:
    """``{'rows', 'unblended_cost', 'amortized_cost', 'by_line_item_type': {type: {same three}}}``.

    Costs are Decimal, exact to the 10 decimals of the canonical money type.
    """
    sums: dict[tuple[str | None, bool], dict[str, Decimal | int]] = defaultdict(lambda: defaultdict(Decimal))
    legacy = delivery.format.startswith("legacy")
    with localcontext() as ctx:
        ctx.prec = 50  # exact: 38-digit sums never round
        for f in delivery.files:
            for batch in _batches(f.path, legacy):
                _accumulate(sums, batch)
        by_type: dict[str, dict[str, Decimal | int]] = {}
        for (type_, has_ri_arn), s in sorted(sums.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
            entry = by_type.setdefault(str(type_), {"rows": 0, "unblended_cost": Decimal(0), "amortized_cost": Decimal(0)})
            entry["rows"] += int(s["rows"])
            entry["unblended_cost"] += s[UNBLENDED]
            entry["amortized_cost"] += _amortized(type_, has_ri_arn, s)
        return {
            "rows": sum(int(e["rows"]) for e in by_type.values()),
            "unblended_cost": sum((e["unblended_cost"] for e in by_type.values()), Decimal(0)),
            "amortized_cost": sum((e["amortized_cost"] for e in by_type.values()), Decimal(0)),
            "by_line_item_type": by_type,
        }


def _amortized(type_: str | None, has_ri_arn: bool, s: dict[str, Decimal | int]) -> Decimal:
    """FINOPS_DEFINITIONS.md amortized cost, applied to the column sums of one group."""
    if type_ == "SavingsPlanCoveredUsage":
        return s[SP_EFFECTIVE]
    if type_ == "SavingsPlanRecurringFee":
        return s[SP_TOTAL] - s[SP_USED]
    if type_ in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return Decimal(0)
    if type_ == "DiscountedUsage":
        return s[RI_EFFECTIVE]
    if type_ == "RIFee":
        return s[RI_UNUSED_UPFRONT] + s[RI_UNUSED_RECURRING]
    if type_ == "Fee" and has_ri_arn:
        return Decimal(0)
    return s[UNBLENDED]


def _accumulate(sums: dict, batch: pa.RecordBatch) -> None:
    arn = batch.column(RI_ARN)
    has_arn = pc.and_kleene(pc.is_valid(arn), pc.not_equal(arn, ""))
    columns = {TYPE: batch.column(TYPE), "has_ri_arn": pc.fill_null(has_arn, False)}
    columns.update({m: _to_decimal(batch.column(m)) for m in MONEY})
    grouped = pa.table(columns).group_by([TYPE, "has_ri_arn"]).aggregate(
        [(TYPE, "count", pc.CountOptions(mode="all"))] + [(m, "sum") for m in MONEY]
    )
    for row in grouped.to_pylist():
        target = sums[(row[TYPE], row["has_ri_arn"])]
        target["rows"] += row[f"{TYPE}_count"]
        for m in MONEY:
            if row[f"{m}_sum"] is not None:
                target[m] += row[f"{m}_sum"]


def _to_decimal(values: pa.Array) -> pa.Array:
    """Per-row decimal128(38, 10) of a cost column, rounded like DuckDB's cast to DECIMAL(18,10)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), pa.scalar(None, values.type), values)
        wide = pc.cast(text, _WIDE)
        return pc.cast(pc.round(wide, 10, round_mode="half_towards_infinity"), _DECIMAL)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), _DECIMAL)
    return pc.cast(values, _DECIMAL)


def _batches(path: str, legacy: bool):
    """Record batches with exactly the needed columns (absent ones all null), streamed."""
    needed = (TYPE, RI_ARN) + MONEY
    fs = storage.filesystem(path)
    try:
        if path.lower().endswith(".parquet"):
            with fs.open(storage.strip_protocol(path), "rb") as fh:
                pf = pq.ParquetFile(fh)
                names = {(athena_name(n) if legacy else n): n for n in pf.schema_arrow.names}
                present = [names[c] for c in needed if c in names]
                for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=present):
                    yield _complete(batch, names, needed)
        else:
            header = csv_header(path)
            names = {(athena_name(n) if legacy else n): n for n in header}
            present = [names[c] for c in needed if c in names]
            with fs.open(storage.strip_protocol(path), "rb", compression="infer") as fh:
                reader = pcsv.open_csv(
                    fh,
                    read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
                    convert_options=pcsv.ConvertOptions(
                        include_columns=present,
                        column_types={c: pa.string() for c in present},
                        strings_can_be_null=True,
                        null_values=[""],
                    ),
                )
                for batch in reader:
                    yield _complete(batch, names, needed)
    except (pa.ArrowException, *STORAGE_ERRORS) as exc:
        raise IngestError(f"{path}: cannot be read for reconciliation: {exc}") from exc


def _complete(batch: pa.RecordBatch, names: dict[str, str], needed: tuple[str, ...]) -> pa.RecordBatch:
    arrays = []
    for c in needed:
        if c in names:
            arrays.append(batch.column(names[c]))
        else:
            arrays.append(pa.nulls(batch.num_rows, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=list(needed))
