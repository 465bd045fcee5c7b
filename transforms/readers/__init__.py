"""Read one delivery, whatever its source format, as the canonical ``cost_line_items`` relation.

The query has three steps, composed as CTEs and run as one lazy DuckDB relation:

1. ``staged``: the delivery's files conformed to the CUR 2.0 input columns, built from their
   schemas by ``transforms.readers.staging`` (the only step that depends on what the files hold);
2. ``standard``: ``sql/cost_line_items/cur2.sql`` or ``legacy.sql``, the format's own shape
   (where product attributes and tags live) to format-neutral columns;
3. ``sql/cost_line_items/normalize.sql``: the business rules, once for every format.

CUR 2.0 Parquet and CSV share step 2, as do legacy Parquet and CSV: within a family the only
difference is how values are typed, which step 1 settles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from transforms.readers.errors import IngestError, ingest_errors
from transforms.readers.staging import staged_query
from transforms.sqlrunner import load_sql

if TYPE_CHECKING:
    from transforms.discover import Delivery

__all__ = ["IngestError", "ingest_errors", "read_delivery"]

_SHAPES = {
    "cur2-parquet": "cost_line_items/cur2",
    "cur2-csv": "cost_line_items/cur2",
    "legacy-parquet": "cost_line_items/legacy",
    "legacy-csv": "cost_line_items/legacy",
}


def read_delivery(con: duckdb.DuckDBPyConnection, delivery: Delivery) -> duckdb.DuckDBPyRelation:
    """The delivery's rows as ``cost_line_items`` (transforms/schema.py names, order and types).

    Lazy: only file footers and CSV headers are read here (schema problems raise IngestError
    now). Rows stream when the relation runs; row problems then raise through DuckDB, so run it
    inside ``with ingest_errors():`` to get them as IngestError.
    """
    if delivery.format in ("focus-parquet", "focus-csv"):
        from transforms.readers.focus import read_focus_delivery

        return read_focus_delivery(con, delivery)
    if delivery.format not in _SHAPES:
        raise IngestError(f"delivery {delivery.delivery_id}: unknown format {delivery.format!r}; expected one of {sorted(_SHAPES)}")
    staged, params = staged_query(con, delivery)
    sql = (
        f"WITH staged AS (\n{staged}\n),\n"
        f"standard AS (\n{load_sql(_SHAPES[delivery.format])}\n),\n"
        f"cost_line_items AS (\n{load_sql('cost_line_items/normalize')}\n)\n"
        "SELECT * FROM cost_line_items"
    )
    params |= {
        "billing_period": delivery.billing_period,
        "source_format": delivery.format,
        "delivery_id": delivery.delivery_id,
    }
    return con.sql(sql, params=params)
