"""Read FOCUS 1.x deliveries (AWS's FOCUS_1_2 export, Azure, Google Cloud, OCI) as ``cost_line_items``.

FOCUS files already carry amortized cost (EffectiveCost), so they skip the CUR business rules
of ``normalize.sql``: ``sql/cost_line_items/focus.sql`` maps the FOCUS columns to the canonical
ones directly. As for CUR, the files' schemas are read first (footers and headers only) and every
column is conformed to its type by ``transforms.readers.staging``: a missing required column is an
IngestError naming the file and column, a value that does not convert one naming the row.

curlake's own FOCUS export adds ``x_`` columns (line item type, gross costs, product attributes)
that an ingest of it reads back, so a round trip keeps what FOCUS alone would lose.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import duckdb

from transforms.readers.columns import KIND_TYPES, InputColumn
from transforms.readers.errors import IngestError
from transforms.readers.sources import SOURCE_FILE_COLUMN, reader_sql
from transforms.readers.staging import _EMPTY_MAP, _EXPECTED, _accepts, _conform, _row_ref, _schemas
from transforms.sqlrunner import load_sql
from transforms.sqlrunner import quote_identifier as ident

if TYPE_CHECKING:
    from transforms.discover import Delivery, SourceFile

__all__ = ["FOCUS_COLUMNS", "focus_file_groups", "is_focus", "read_focus_delivery"]

# Columns that make a file a FOCUS cost and usage dataset (FOCUS 1.0 to 1.2 all have them).
MARKER_COLUMNS = frozenset({"BilledCost", "ChargeCategory", "BillingPeriodStart", "ChargePeriodStart"})

# The FOCUS columns read, with how each is conformed; the rest of a file is ignored.
FOCUS_COLUMNS: tuple[InputColumn, ...] = (
    InputColumn("BillingAccountId", "text", True),
    InputColumn("BillingPeriodStart", "timestamp", True),
    InputColumn("ChargePeriodStart", "timestamp", True),
    InputColumn("ChargeCategory", "text", True),
    InputColumn("BilledCost", "money", True),
    InputColumn("EffectiveCost", "money", True),
    InputColumn("BillingCurrency", "text", True),
    InputColumn("ListCost", "money"),
    InputColumn("ContractedCost", "money"),
    InputColumn("ChargeClass", "text"),
    InputColumn("ChargeFrequency", "text"),
    InputColumn("SubAccountId", "text"),
    InputColumn("SubAccountName", "text"),
    InputColumn("ServiceName", "text"),
    InputColumn("ServiceCategory", "text"),
    InputColumn("RegionId", "text"),
    InputColumn("AvailabilityZone", "text"),
    InputColumn("ResourceId", "text"),
    InputColumn("ResourceType", "text"),
    InputColumn("SkuMeter", "text"),
    InputColumn("PricingCategory", "text"),
    InputColumn("PricingQuantity", "double"),
    InputColumn("PricingUnit", "text"),
    InputColumn("ConsumedQuantity", "double"),
    InputColumn("CommitmentDiscountId", "text"),
    InputColumn("CommitmentDiscountCategory", "text"),
    InputColumn("CommitmentDiscountStatus", "text"),
    InputColumn("CommitmentDiscountType", "text"),
    InputColumn("Tags", "map"),
    # AWS's FOCUS export.
    InputColumn("x_ServiceCode", "text"),
    InputColumn("x_Operation", "text"),
    # curlake's FOCUS export (sql/focus_1_2/export.sql).
    InputColumn("x_LineItemType", "text"),
    InputColumn("x_LineItemId", "text"),
    InputColumn("x_UsageType", "text"),
    InputColumn("x_PricingUnit", "text"),
    InputColumn("x_PurchaseOption", "text"),
    InputColumn("x_UsageAmount", "double"),
    InputColumn("x_UnblendedCost", "money"),
    InputColumn("x_AmortizedCost", "money"),
    InputColumn("x_ProductFamily", "text"),
    InputColumn("x_InstanceType", "text"),
    InputColumn("x_Processor", "text"),
    InputColumn("x_OperatingSystem", "text"),
    InputColumn("x_StorageClass", "text"),
    InputColumn("x_VolumeApiName", "text"),
    InputColumn("x_CostCategories", "map"),
)


def is_focus(columns: Iterable[str]) -> bool:
    """Whether a file with these column names is a FOCUS cost and usage dataset."""
    return MARKER_COLUMNS <= set(columns)


def read_focus_delivery(con: duckdb.DuckDBPyConnection, delivery: Delivery) -> duckdb.DuckDBPyRelation:
    """The FOCUS delivery's rows as ``cost_line_items`` (lazy, like ``read_delivery``)."""
    kind = "parquet" if delivery.format.endswith("parquet") else "csv"
    if not delivery.files:
        raise IngestError(f"delivery {delivery.delivery_id} of {delivery.billing_period} has no data files")
    union, per_file = _schemas(con, kind, delivery.files)
    for f in delivery.files:
        for col in FOCUS_COLUMNS:
            type_ = per_file[f.path].get(col.name)
            if type_ is None:
                if col.required:
                    raise IngestError(f"{f.path}: missing required FOCUS column {col.name}")
            elif not _accepts(col.kind, type_):
                raise IngestError(f"{f.path}: column {col.name} has type {type_}, expected {_EXPECTED[col.kind]}")
    row_ref = _row_ref(kind, None)
    select = []
    for col in FOCUS_COLUMNS:
        if col.name in union:
            expr = _conform(col, col.name, union[col.name], row_ref)
        else:
            expr = f"CAST(NULL AS {KIND_TYPES[col.kind]})"
        if col.kind == "map":
            expr = f"coalesce({expr}, {_EMPTY_MAP})"
        select.append(f"{expr} AS {ident(col.name)}")
    select += [f"{ident(SOURCE_FILE_COLUMN)} AS source_file", f"{row_ref} AS source_row"]
    staged = "SELECT\n    " + ",\n    ".join(select) + f"\nFROM {reader_sql(kind, provenance=True)}"
    sql = f"WITH staged AS (\n{staged}\n),\ncost_line_items AS (\n{load_sql('cost_line_items/focus')}\n)\nSELECT * FROM cost_line_items"
    params = {
        "files": [f.path for f in delivery.files],
        "billing_period": delivery.billing_period,
        "source_format": delivery.format,
        "delivery_id": delivery.delivery_id,
    }
    return con.sql(sql, params=params)


def focus_file_groups(
    listing: dict[str, SourceFile],
    columns_of: Callable[[SourceFile], list[str]],
    first_value: Callable[[SourceFile, str], str | None],
    kind_of: Callable[[str], str | None],
) -> dict[tuple[str, str], list[SourceFile]]:
    """FOCUS files of ``listing`` (path -> file), grouped by (billing period, 'parquet' or 'csv').

    For exports outside AWS's Data Exports layout (Azure, Google Cloud, OCI): any Parquet or CSV
    file whose columns make it FOCUS; its billing period is its first row's BillingPeriodStart
    (each row is checked against it when read). Azure writes each run of an export to its own
    folder with a ``manifest.json``: when a period's files lie in several folders that have one,
    only the folder of the newest manifest is kept (the others are older runs of the same data).
    """
    groups: dict[tuple[str, str], list[SourceFile]] = defaultdict(list)
    for path, f in sorted(listing.items()):
        kind = kind_of(path)
        if kind is None or f.size == 0 or not is_focus(columns_of(f)):
            continue
        start = first_value(f, "BillingPeriodStart")
        if start is None:
            continue
        groups[(start[:7], kind)].append(f)
    return {key: _latest_run(group, listing) for key, group in groups.items()}


def _latest_run(files: list[SourceFile], listing: dict[str, SourceFile]) -> list[SourceFile]:
    """The files of the newest Azure-style run folder, or all files when runs are not told apart."""
    folders = sorted({posixpath.dirname(f.path) for f in files})
    manifests = [listing.get(posixpath.join(folder, "manifest.json")) for folder in folders]
    if len(folders) == 1 or any(m is None for m in manifests):
        return files
    keep = posixpath.dirname(max(manifests, key=lambda m: (m.mtime or "", m.path)).path)
    return [f for f in files if posixpath.dirname(f.path) == keep]
