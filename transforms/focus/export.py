"""Export one billing period of ``cost_line_items`` as FOCUS 1.2 (``sql/focus_1_2/export.sql``).

``cost_line_items`` is the one table every source format lands in (CUR 2.0, legacy CUR, FOCUS),
so exporting from it serves all of them. The relation is lazy and streams: DuckDB reads whole
line items once, plus two narrow passes of 4 columns each (``sql/focus_1_2/period.sql`` when the
relation is made: granularity and payer account names; the distinct SKU keys inside the
export), and never holds the month in memory.

What ``cost_line_items`` does not carry (invoice id, SKU ids, charge descriptions, the end of
the charge period, payer account names) is derived; docs/focus.md lists each derivation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

import duckdb

from transforms import periods, storage
from transforms.focus.services import mapping_params
from transforms.sqlrunner import load_sql, quote_identifier

__all__ = ["AWS", "Provider", "focus_relation", "write_focus"]


@dataclass(frozen=True)
class Provider:
    """Who provides, publishes and invoices the charges: FOCUS columns the line items lack.

    FOCUS requires BilledCost to be 0 where ProviderName and InvoiceIssuerName differ (a third
    party collects), so a provider that invoices its own charges uses the same name for both.
    """

    name: str
    publisher: str
    invoice_issuer: str
    billing_account_type: str
    sub_account_type: str
    payer_sub_account_type: str


AWS = Provider(
    name="AWS",
    publisher="AWS",
    invoice_issuer="AWS",
    billing_account_type="Management Account",
    sub_account_type="Member Account",
    payer_sub_account_type="Management Account",
)


def focus_relation(
    con: duckdb.DuckDBPyConnection,
    billing_period: str,
    *,
    source: str = "cost_line_items",
    provider: Provider = AWS,
) -> duckdb.DuckDBPyRelation:
    """FOCUS 1.2 rows of ``billing_period`` from the table or view ``source`` (canonical columns).

    Creates the temporary view ``cost_line_items`` on ``con`` when ``source`` has another name.
    What holds for the whole period is read first, in one small query (``period.sql``), and
    bound into the export: the granularity of usage rows (hourly or daily, which sets
    ChargePeriodEnd; daily deliveries start every row at midnight) and the payer account names.
    """
    billing_period = periods.validate(billing_period)
    if source != "cost_line_items":
        con.execute(f"CREATE OR REPLACE TEMP VIEW cost_line_items AS SELECT * FROM {quote_identifier(source)}")
    payers = con.execute(load_sql("focus_1_2/period"), {"billing_period": billing_period}).fetchall()
    # Daily only when every usage starts at midnight; hourly when one does not, or none is known.
    known = [hourly for _, _, hourly in payers if hourly is not None]
    start = datetime.combine(periods.first_day(billing_period), datetime.min.time())
    end = datetime.combine(periods.first_day(periods.next_period(billing_period)), datetime.min.time())
    params = {
        "billing_period": billing_period,
        "period_start": start,
        "period_end": end,
        "hourly": any(known) if known else True,
        "payer_account_ids": [payer for payer, _, _ in payers if payer is not None],
        "payer_account_names": [name for payer, name, _ in payers if payer is not None],
        "provider_name": provider.name,
        "publisher_name": provider.publisher,
        "invoice_issuer_name": provider.invoice_issuer,
        "billing_account_type": provider.billing_account_type,
        "sub_account_type": provider.sub_account_type,
        "payer_sub_account_type": provider.payer_sub_account_type,
        **mapping_params(),
    }
    return con.sql(load_sql("focus_1_2/export"), params=params)


# Date/times as FOCUS writes them in text: ISO 8601, UTC, 'Z' suffix.
_CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def write_focus(con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, path: str, fmt: str = "parquet") -> int:
    """Write ``relation`` (from ``focus_relation``) to one file, Parquet or CSV; returns the row count.

    A standalone FOCUS file, for tools that want one (the FinOps Foundation's validator, a
    FinOps platform's upload). Parquet keeps the types; CSV writes date/times as
    ``YYYY-MM-DDTHH:MM:SSZ`` and Tags as JSON text, as FOCUS's text format wants. ``path`` may be
    an ``s3://`` URL (written through s3fs).
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"FOCUS file format {fmt!r} is not one of 'parquet', 'csv'")
    if not storage.is_s3(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    name = "curlake_focus_export"
    con.register(name, relation)
    try:
        if fmt == "parquet":
            options = "FORMAT parquet, COMPRESSION zstd"
        else:
            options = f"FORMAT csv, HEADER true, TIMESTAMPFORMAT '{_CSV_TIMESTAMP_FORMAT}'"
        [(rows,)] = con.execute(f"COPY (SELECT * FROM {quote_identifier(name)}) TO $path ({options})", {"path": path}).fetchall()
    finally:
        con.unregister(name)
    return int(rows)
