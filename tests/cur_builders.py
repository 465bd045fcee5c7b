"""Small CUR files for the ingestion tests, written the way AWS lays them out.

CUR 2.0 files carry every column of ``cur2_default`` in
/work/shared/reference/aws_data_exports_columns.json with its Glue type (unknown types: double
when the name says cost/amount/rate/quantity, timestamp for dates, else string). Rows are dicts
of the values a test cares about; every other column is NULL. Legacy files take rows keyed by
the legacy column names (Athena names for Parquet, ``lineItem/UnblendedCost`` headers for CSV).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REFERENCE = Path("/work/shared/reference/aws_data_exports_columns.json")
LEGACY_CSV_FIXTURE = Path("/work/shared/fixtures/anonymous-legacy-cur/sample-anonymous-aws-export-dataset.csv")


def _arrow_type(name: str, glue: str | None) -> pa.DataType:
    if glue == "string":
        return pa.string()
    if glue == "double":
        return pa.float64()
    if glue == "timestamp":
        return pa.timestamp("ms")
    if glue == "map<string,string>":
        return pa.map_(pa.string(), pa.string())
    if glue == "map<string,double>":
        return pa.map_(pa.string(), pa.float64())
    if any(word in name for word in ("cost", "amount", "rate", "quantity")):
        return pa.float64()
    if name.endswith("_date"):
        return pa.timestamp("ms")
    return pa.string()


CUR2_SCHEMA = pa.schema(
    [pa.field(c["name"], _arrow_type(c["name"], c["type"])) for c in json.loads(REFERENCE.read_text())["cur2_default"]]
)


def cur2_row(period: str = "2025-01", **values: object) -> dict:
    """A CUR 2.0 row of ``period`` with the always-present columns filled, ``values`` on top."""
    start = datetime.fromisoformat(f"{period}-01")
    row = {
        "bill_billing_period_start_date": start,
        "bill_payer_account_id": "111111111111",
        "line_item_usage_account_id": "210000000001",
        "line_item_usage_start_date": datetime.fromisoformat(f"{period}-03T05:00:00"),
        "line_item_product_code": "AmazonEC2",
        "line_item_currency_code": "USD",
        "line_item_line_item_type": "Usage",
        "line_item_unblended_cost": 0.0,
    }
    row.update(values)
    return row


def cur2_table(rows: list[dict], schema: pa.Schema = CUR2_SCHEMA) -> pa.Table:
    unknown = {k for r in rows for k in r} - set(schema.names)
    if unknown:
        raise KeyError(f"not CUR 2.0 columns: {sorted(unknown)}")
    columns = {}
    for field in schema:
        values = [r.get(field.name) for r in rows]
        if pa.types.is_map(field.type):
            values = [list(v.items()) if v is not None else None for v in values]
        columns[field.name] = pa.array(values, type=field.type)
    return pa.table(columns, schema=schema)


def cur2_paths(root: Path, period: str, export: str = "cur2", n_files: int = 1, ext: str = "snappy.parquet") -> list[Path]:
    folder = root / export / "data" / f"BILLING_PERIOD={period}"
    return [folder / f"{export}-{i:05d}.{ext}" for i in range(1, n_files + 1)]


def write_manifest(root: Path, period: str, data_files: list[Path], export: str = "cur2",
                   execution_id: str = "exec-0001", bucket_prefix: str = "s3://billing-bucket/exports") -> Path:
    """CUR 2.0 manifest naming ``data_files`` as AWS does: full s3:// URLs under the bucket prefix."""
    path = root / export / "metadata" / f"BILLING_PERIOD={period}" / f"{export}-Manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    urls = [f"{bucket_prefix}/{f.relative_to(root).as_posix()}" for f in data_files]
    y, m = (int(x) for x in period.split("-"))
    end = f"{y + (m == 12):04d}-{m % 12 + 1:02d}"
    path.write_text(json.dumps({
        "executionId": execution_id,
        "exportName": export,
        "billingPeriod": {"start": f"{period}-01T00:00:00.000Z", "end": f"{end}-01T00:00:00.000Z"},
        "dataFiles": urls,
    }))
    return path


def write_cur2_parquet(root: Path, period: str, rows: list[dict], export: str = "cur2", n_files: int = 1,
                       manifest: bool = True, execution_id: str = "exec-0001") -> list[Path]:
    """Rows split round-robin over ``n_files`` Parquet files, plus the manifest naming them."""
    paths = cur2_paths(root, period, export, n_files)
    for i, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(cur2_table(rows[i::n_files]), path)
    if manifest:
        write_manifest(root, period, paths, export, execution_id)
    return paths


def write_cur2_csv(root: Path, period: str, rows: list[dict], export: str = "cur2-csv", manifest: bool = True) -> Path:
    """One gzip CSV as CUR 2.0 CSV exports write it: maps as JSON text, ISO timestamps with Z."""
    (path,) = cur2_paths(root, period, export, 1, "csv.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CUR2_SCHEMA.names)
    for r in rows:
        out = []
        for field in CUR2_SCHEMA:
            v = r.get(field.name)
            if v is None:
                out.append("")
            elif isinstance(v, dict):
                out.append(json.dumps(v))
            elif isinstance(v, datetime):
                out.append(v.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
            else:
                out.append(str(v))
        writer.writerow(out)
    path.write_bytes(gzip.compress(buf.getvalue().encode()))
    if manifest:
        write_manifest(root, period, [path], export)
    return path


def write_legacy_parquet(root: Path, period: str, rows: list[dict], report: str = "legacy-cur",
                         name: str | None = None, types: dict[str, pa.DataType] | None = None) -> Path:
    """Legacy Athena Parquet: ``<report>/<report>/year=YYYY/month=M/<name>``, columns = the rows' keys."""
    y, m = period.split("-")
    path = root / report / report / f"year={y}" / f"month={int(m)}" / (name or f"{report}-00001.snappy.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(k for r in rows for k in r))
    types = types or {}
    table = pa.table({n: pa.array([r.get(n) for r in rows], type=types.get(n)) for n in names})
    pq.write_table(table, path)
    return path


def write_legacy_csv(path: Path, rows: list[dict], gz: bool | None = None) -> Path:
    """Legacy CUR CSV with the rows' keys as headers (``lineItem/UnblendedCost``); gzip if the name ends .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(names)
    for r in rows:
        writer.writerow(["" if r.get(n) is None else r[n] for n in names])
    data = buf.getvalue().encode()
    gz = path.name.endswith(".gz") if gz is None else gz
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def legacy_csv_row(period: str = "2024-10", **values: object) -> dict:
    """A legacy CSV row with the always-present headers filled, ``values`` on top."""
    row = {
        "identity/LineItemId": "li-1",
        "bill/PayerAccountId": "111111111111",
        "bill/BillingPeriodStartDate": f"{period}-01T00:00:00.000Z",
        "lineItem/UsageAccountId": "012345678901",
        "lineItem/LineItemType": "Usage",
        "lineItem/UsageStartDate": f"{period}-02T00:00:00.000Z",
        "lineItem/ProductCode": "AmazonS3",
        "lineItem/CurrencyCode": "USD",
        "lineItem/UnblendedCost": "0",
    }
    row.update(values)
    return row


def legacy_parquet_row(period: str = "2024-11", **values: object) -> dict:
    """A legacy Athena Parquet row with the always-present columns filled, ``values`` on top."""
    row = {
        "identity_line_item_id": "li-1",
        "bill_payer_account_id": "111111111111",
        "bill_billing_period_start_date": datetime.fromisoformat(f"{period}-01"),
        "line_item_usage_account_id": "210000000004",
        "line_item_line_item_type": "Usage",
        "line_item_usage_start_date": datetime.fromisoformat(f"{period}-05T10:00:00"),
        "line_item_product_code": "AmazonEC2",
        "line_item_currency_code": "USD",
        "line_item_unblended_cost": 0.0,
    }
    row.update(values)
    return row


def touch_later(path: Path) -> None:
    """Move a file's mtime forward one second (a rewrite within the filesystem's timestamp granularity)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
