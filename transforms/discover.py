"""Find the cost-data deliveries under a source folder (local path or ``s3://`` URL).

A *delivery* is what AWS last delivered for one billing period: the set of data files to read,
plus the manifest that named them when there is one. ``discover(source)`` returns one
``Delivery`` per billing period, whatever the format(s) found:

- ``cur2-parquet`` / ``cur2-csv``: AWS Data Exports, ``<export>/data/BILLING_PERIOD=YYYY-MM/*``
  with ``<export>/metadata/BILLING_PERIOD=YYYY-MM/*Manifest.json``. When a manifest exists its
  file list is authoritative (versioned exports keep old deliveries next to the current one);
  the newest manifest of a period wins. A manifest naming a missing file is an error.
- ``legacy-parquet``: legacy CUR Athena layout, ``.../year=YYYY/month=M/*.parquet``.
- ``legacy-csv``: legacy CUR CSV (``lineItem/UnblendedCost`` headers), gzip or plain, any folder
  layout; the billing period comes from ``bill/BillingPeriodStartDate`` of the first row.
  A legacy manifest (``reportKeys``, ``assemblyId``) selects the current assembly and makes the
  older assemblies of its period ignored.

Manifest fields read (CUR 2.0 / legacy): the file list ``dataFiles`` / ``reportKeys``, the id
``executionId`` / ``assemblyId``, the period ``billingPeriod.start``. Entries may be full
``s3://`` URLs or bucket keys: they are matched against the listing relative to the manifest's
folders, so a bucket copied to a local folder still resolves.

When two formats deliver the same period (a migration from legacy CUR to CUR 2.0 runs both), the
first of ``FORMATS`` wins and the others are logged; two deliveries of the same format for one
period (two exports) are an error, since reading both would double count.

Change detection: AWS overwrites files in place, so ``Delivery.fingerprint`` hashes ETags and
sizes (local files: size and mtime_ns), never just names.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

import duckdb

from transforms import duck, periods, storage
from transforms.readers.columns import athena_name
from transforms.readers.focus import focus_file_groups, is_focus
from transforms.readers.errors import STORAGE_ERRORS, IngestError, read_problem, reason
from transforms.readers.sources import csv_header, reader_sql
from transforms.sqlrunner import quote_identifier

__all__ = ["FORMATS", "Delivery", "IngestError", "SourceFile", "discover", "verify_unchanged"]

log = logging.getLogger(__name__)

# In order of preference when several formats deliver the same billing period.
FORMATS: tuple[str, ...] = ("cur2-parquet", "cur2-csv", "legacy-parquet", "legacy-csv", "focus-parquet", "focus-csv")

_CUR2_DATA = re.compile(r"^(?P<export>.+)/data/BILLING_PERIOD=(?P<period>[^/]+)/(?P<rest>.+)$")
_CUR2_MANIFEST = re.compile(r"^(?P<export>.+)/metadata/BILLING_PERIOD=(?P<period>[^/]+)/(?:.+/)?[^/]*Manifest\.json$")
_LEGACY_PARQUET = re.compile(r"^(?P<root>.+)/year=(?P<year>\d{4})/month=(?P<month>\d{1,2})/(?:.+/)?[^/]+\.parquet$")
_DATE_RANGE_DIR = re.compile(r"/(?P<start>\d{8})-\d{8}/")
_MANIFEST = re.compile(r"Manifest\.json$")

_LOOKED_FOR = (
    "CUR 2.0 Data Exports (<export>/data/BILLING_PERIOD=YYYY-MM/*.parquet or *.csv.gz), "
    "legacy CUR Athena Parquet (year=YYYY/month=M/*.parquet) and "
    "legacy CUR CSV (*.csv or *.csv.gz with lineItem/LineItemType headers) and "
    "FOCUS 1.x exports (Parquet or CSV with BilledCost, ChargeCategory, BillingPeriodStart columns)"
)


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int
    etag: str | None
    mtime: str | None


@dataclass(frozen=True)
class Delivery:
    billing_period: str
    format: str
    files: tuple[SourceFile, ...]
    manifest: SourceFile | None
    delivery_id: str

    @property
    def fingerprint(self) -> str:
        """Changes whenever AWS re-delivers in place: manifest and file ETags/sizes, not names only."""
        parts = [self.format, self.billing_period]
        if self.manifest is not None:
            parts.append(_file_token(self.manifest))
        parts.extend(sorted(_file_token(f) for f in self.files))
        return _digest(parts)


def discover(source: str) -> list[Delivery]:
    """One Delivery per billing period found under ``source`` (a folder or a single file), by period."""
    source = _absolute(source)
    listing = _list(source)
    if not listing:
        raise IngestError(f"{source}: no files found (looked for {_LOOKED_FOR})")
    with _Sniffer() as sniffer:
        claimed: set[str] = set()
        candidates = _cur2_deliveries(listing, sniffer, claimed)
        candidates += _legacy_deliveries(listing, sniffer, claimed)
        claimed.update(f.path for d in candidates for f in d.files)
        candidates += _focus_deliveries(listing, sniffer, claimed)
    if not candidates:
        raise IngestError(f"{source}: no cost data found among {len(listing)} files (looked for {_LOOKED_FOR})")
    return _one_per_period(candidates)


def verify_unchanged(delivery: Delivery) -> None:
    """Raise IngestError if any file of ``delivery`` (or its manifest) changed since it was discovered.

    AWS overwrites a delivery in place, and may do so while a run reads it: rows from before and
    after the overwrite, or lineage naming ETags the rows did not come from, must not be
    published. Called after the rows are read and reconciled, it lists the delivery's folders
    again (one listing per folder) and compares each file's size and ETag (local: size and mtime).
    """
    files = [*delivery.files, *([delivery.manifest] if delivery.manifest else [])]
    now: dict[str, SourceFile] = {}
    for folder in sorted({posixpath.dirname(f.path) for f in files}):
        try:
            now.update(_list(folder))
        except FileNotFoundError:
            pass
    changes = []
    for f in files:
        current = now.get(f.path)
        if current is None:
            changes.append(f"{f.path}: no longer exists")
        elif (current.size, current.etag) != (f.size, f.etag):
            changes.append(f"{f.path}: size {f.size} -> {current.size}, ETag {f.etag} -> {current.etag}")
    if changes:
        raise IngestError(
            f"delivery {delivery.delivery_id} of billing period {delivery.billing_period} changed while it was read "
            f"(overwritten in place): {'; '.join(changes)}. Nothing read from it is published; the next run reads "
            "the new delivery."
        )


# --- listing -------------------------------------------------------------------------------

def _absolute(source: str) -> str:
    source = str(source)
    return source.rstrip("/") if storage.is_s3(source) else os.path.abspath(source)


def _list(source: str) -> dict[str, SourceFile]:
    """Every file under ``source`` (or ``source`` itself), keyed by path with its protocol."""
    fs = storage.filesystem(source)
    found = fs.find(storage.strip_protocol(source), detail=True)
    out: dict[str, SourceFile] = {}
    for raw_path, info in found.items():
        if info.get("type", "file") != "file":
            continue
        path = storage.with_protocol(raw_path, source)
        if storage.is_s3(source):
            etag = info.get("ETag") or info.get("etag")
            modified = info.get("LastModified")
            out[path] = SourceFile(
                path=path,
                size=int(info.get("size") or 0),
                etag=etag.strip('"') if etag else None,
                mtime=modified.astimezone(timezone.utc).isoformat() if modified else None,
            )
        else:
            st = os.stat(path)
            out[path] = SourceFile(
                path=path,
                size=st.st_size,
                # Local files have no ETag: size and nanosecond mtime change on every rewrite.
                etag=_digest([str(st.st_size), str(st.st_mtime_ns)]),
                mtime=datetime.fromtimestamp(st.st_mtime_ns / 1e9, timezone.utc).isoformat(),
            )
    return out


def _digest(parts: Iterable[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _file_token(f: SourceFile) -> str:
    return f"{f.path}|{f.size}|{f.etag}"


def _data_kind(path: str) -> str | None:
    """'parquet', 'csv' or None from the file name."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        return "csv"
    return None


def _period(value: str, what: str, path: str) -> str:
    try:
        return periods.validate(value)
    except periods.PeriodError as exc:
        raise IngestError(f"{path}: {what} {value!r} is not a billing period (YYYY-MM)") from exc


# --- sniffing file contents (cheap DuckDB queries) ---------------------------------------

class _Sniffer:
    """Reads column names and the first billing period of files, on one lazily opened connection."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "_Sniffer":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._con is not None:
            self._con.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duck.connect(memory_limit="1GB")
        return self._con

    def columns(self, f: SourceFile) -> list[str]:
        """Column names: a Parquet footer, or a CSV header line (no DuckDB sniffing of a sample)."""
        if f.size == 0:
            raise IngestError(f"{f.path}: empty file (0 bytes)")
        kind = _data_kind(f.path)
        try:
            if kind == "csv":
                return csv_header(f.path)
            rows = self.con.sql(f"DESCRIBE SELECT * FROM {reader_sql(kind)}", params={"files": [f.path]}).fetchall()
        except (duckdb.Error, EOFError, *STORAGE_ERRORS) as exc:
            raise IngestError(f"{f.path}: {_problem(exc)}: {reason(exc)}") from exc
        return [r[0] for r in rows]

    def first_value(self, f: SourceFile, column: str) -> str | None:
        reader = reader_sql(_data_kind(f.path))
        query = f"SELECT CAST({quote_identifier(column)} AS VARCHAR) FROM {reader} LIMIT 1"
        try:
            rows = self.con.sql(query, params={"files": [f.path]}).fetchall()
        except duckdb.Error as exc:
            raise IngestError(f"{f.path}: {_problem(exc)}: {reason(exc)}") from exc
        return rows[0][0] if rows else None


def _problem(exc: BaseException) -> str:
    """How a file failed to open: the storage (after its retries) or its content."""
    if isinstance(exc, STORAGE_ERRORS) and not isinstance(exc, gzip.BadGzipFile):
        return "could not be read from storage"
    return read_problem(exc) or "unreadable or corrupt file"


# --- manifests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Manifest:
    file: SourceFile
    files: tuple[SourceFile, ...]
    delivery_id: str | None
    billing_period: str | None


def _load_json(mf: SourceFile) -> object:
    fs = storage.filesystem(mf.path)
    try:
        with fs.open(storage.strip_protocol(mf.path), "rb") as fh:
            return json.load(fh)
    except STORAGE_ERRORS as exc:
        raise IngestError(f"{mf.path}: could not be read from storage: {exc}") from exc
    except ValueError as exc:
        raise IngestError(f"{mf.path}: manifest is not readable JSON: {exc}") from exc


def _read_manifest(mf: SourceFile, doc: object, listing: dict[str, SourceFile], root: str) -> _Manifest:
    entries = doc.get("dataFiles", doc.get("reportKeys")) if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
        raise IngestError(
            f"{mf.path}: manifest lists no data files "
            "(expected a non-empty 'dataFiles' (CUR 2.0) or 'reportKeys' (legacy CUR) list of strings)"
        )
    files = []
    for entry in entries:
        path = _resolve(entry, mf.path, root, listing)
        if path is None:
            raise IngestError(f"{mf.path}: manifest names data file {entry!r}, which does not exist under {root}")
        files.append(listing[path])
    bp = doc.get("billingPeriod")
    start = bp.get("start") if isinstance(bp, dict) else None
    period = None
    if isinstance(start, str):
        digits = start.replace("-", "")[:6]
        period = _period(f"{digits[:4]}-{digits[4:6]}", "manifest billingPeriod.start", mf.path)
    ident = doc.get("executionId") or doc.get("assemblyId")
    return _Manifest(mf, tuple(sorted(set(files), key=lambda f: f.path)), str(ident) if ident else None, period)


def _resolve(entry: str, manifest_path: str, root: str, listing: dict[str, SourceFile]) -> str | None:
    """The listed path a manifest entry names: as is, else re-anchored on the manifest's folders.

    Entries are ``s3://bucket/prefix/...`` URLs or bucket keys. A copy of the bucket (or a
    different prefix) keeps the part below the export/report folder, so the entry's components
    after a folder name shared with one of the manifest's ancestors are tried under that ancestor.
    """
    if entry in listing:
        return entry
    key = entry.split("://", 1)[1].split("/", 1)[-1] if "://" in entry else entry.lstrip("/")
    parts = [p for p in key.split("/") if p]
    anchor = posixpath.dirname(manifest_path)
    while len(anchor) >= len(root) and anchor:
        name = posixpath.basename(anchor)
        for i, part in enumerate(parts):
            if part == name:
                candidate = posixpath.join(anchor, *parts[i + 1:])
                if candidate in listing:
                    return candidate
        parent = posixpath.dirname(anchor)
        if parent == anchor:
            break
        anchor = parent
    candidate = posixpath.join(root, *parts)
    return candidate if candidate in listing else None


def _newest(manifests: list[SourceFile]) -> SourceFile:
    """The current manifest among several of one period: newest, then shallowest, then by name."""
    return max(manifests, key=lambda m: (m.mtime or "", -m.path.count("/"), m.path))


# --- CUR 2.0 ------------------------------------------------------------------------------

def _cur2_deliveries(listing: dict[str, SourceFile], sniffer: _Sniffer, claimed: set[str]) -> list[Delivery]:
    data: dict[tuple[str, str], list[SourceFile]] = defaultdict(list)
    manifests: dict[tuple[str, str], list[SourceFile]] = defaultdict(list)
    for path, f in listing.items():
        m = _CUR2_MANIFEST.match(path)
        if m:
            manifests[(m["export"], _period(m["period"], "folder BILLING_PERIOD", path))].append(f)
            claimed.add(path)
            continue
        m = _CUR2_DATA.match(path)
        if m and _data_kind(path):
            data[(m["export"], _period(m["period"], "folder BILLING_PERIOD", path))].append(f)
            claimed.add(path)

    out = []
    for export, period in sorted(set(data) | set(manifests)):
        manifest = None
        if manifests.get((export, period)):
            current = _newest(manifests[(export, period)])
            parsed = _read_manifest(current, _load_json(current), listing, export)
            if parsed.billing_period and parsed.billing_period != period:
                raise IngestError(
                    f"{parsed.file.path}: manifest billing period {parsed.billing_period} disagrees with its "
                    f"folder BILLING_PERIOD={period}"
                )
            manifest, files = parsed, parsed.files
            for f in set(data.get((export, period), [])) - set(files):
                log.info("%s: not named by the current manifest %s: ignored", f.path, current.path)
        else:
            files = tuple(data[(export, period)])
            folders = sorted({posixpath.dirname(f.path) for f in files})
            if len(folders) > 1:
                raise IngestError(
                    f"{export}/data/BILLING_PERIOD={period}: data files in several folders ({', '.join(folders)}) "
                    "and no manifest to tell which delivery is current"
                )
        kinds = {_data_kind(f.path) for f in files}
        if len(kinds) != 1 or None in kinds:
            raise IngestError(
                f"{export}/data/BILLING_PERIOD={period}: mixed or unknown data file types "
                f"({', '.join(f.path for f in files)}); an export is either Parquet or CSV"
            )
        kind = kinds.pop()
        columns = sniffer.columns(files[0])
        if "line_item_line_item_type" not in columns:
            if is_focus(columns):
                out.append(_delivery(period, f"focus-{kind}", files, manifest))
                continue
            raise IngestError(
                f"{files[0].path}: file in a Data Exports layout without column line_item_line_item_type: "
                "not a CUR 2.0 export"
            )
        out.append(_delivery(period, f"cur2-{kind}", files, manifest))
    return out


def _delivery(period: str, fmt: str, files: Iterable[SourceFile], manifest: _Manifest | None) -> Delivery:
    files = tuple(sorted(files, key=lambda f: f.path))
    delivery_id = manifest.delivery_id if manifest and manifest.delivery_id else None
    if delivery_id is None:
        delivery_id = _digest(sorted(f"{f.path}|{f.size}|{f.etag}" for f in files))
    return Delivery(period, fmt, files, manifest.file if manifest else None, delivery_id)


# --- legacy CUR ---------------------------------------------------------------------------

def _folder_period(path: str) -> str | None:
    """Billing period a legacy file's folders state: year=/month= or a YYYYMMDD-YYYYMMDD folder."""
    m = _LEGACY_PARQUET.match(path)
    if m:
        month = int(m["month"])
        return _period(f"{m['year']}-{month:02d}", "folder year=/month=", path)
    ranges = _DATE_RANGE_DIR.findall(path)
    if ranges:
        start = ranges[-1]
        return _period(f"{start[:4]}-{start[4:6]}", "folder date range", path)
    return None


def _report_root(manifest_path: str) -> str:
    """Folder holding a legacy report: the parent of its YYYYMMDD-YYYYMMDD folder, else the manifest's."""
    folder = posixpath.dirname(manifest_path)
    m = list(_DATE_RANGE_DIR.finditer(folder + "/"))
    return folder[: m[-1].start()] if m else folder


def _legacy_deliveries(listing: dict[str, SourceFile], sniffer: _Sniffer, claimed: set[str]) -> list[Delivery]:
    unclaimed = {p: f for p, f in listing.items() if p not in claimed}
    out: list[Delivery] = []

    # Manifests first: they name the current files and make the others of their period stale.
    by_report: dict[tuple[str, str | None], list[SourceFile]] = defaultdict(list)
    for path, f in unclaimed.items():
        if _MANIFEST.search(path):
            by_report[(_report_root(path), _folder_period(path))].append(f)
    stale_roots: list[tuple[str, str]] = []
    for (report_root, _), group in sorted(by_report.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        current = _newest(group)
        doc = _load_json(current)
        if not (isinstance(doc, dict) and "reportKeys" in doc):
            log.debug("%s: JSON without reportKeys: not a legacy CUR manifest, skipped", current.path)
            continue
        parsed = _read_manifest(current, doc, listing, report_root)
        kinds = {_data_kind(f.path) for f in parsed.files}
        if len(kinds) != 1 or None in kinds:
            raise IngestError(f"{parsed.file.path}: manifest names mixed or unknown data files")
        period = parsed.billing_period or _folder_period(parsed.file.path)
        if period is None:
            raise IngestError(f"{parsed.file.path}: manifest has no billingPeriod.start and no dated folder")
        out.append(_delivery(period, f"legacy-{kinds.pop()}", parsed.files, parsed))
        claimed.update(f.path for f in parsed.files)
        claimed.update(m.path for m in group)
        stale_roots.append((report_root, period))

    def stale(path: str) -> bool:
        return any(path.startswith(root + "/") and _folder_period(path) == period for root, period in stale_roots)

    parquet: dict[tuple[str, str], list[SourceFile]] = defaultdict(list)
    csv: dict[str, list[SourceFile]] = defaultdict(list)
    for path, f in sorted(listing.items()):
        if path in claimed or _data_kind(path) is None:
            continue
        if stale(path):
            log.info("%s: not named by the current manifest of its period: ignored", path)
            continue
        m = _LEGACY_PARQUET.match(path)
        if m and _data_kind(path) == "parquet":
            parquet[(m["root"], _folder_period(path))].append(f)
        elif _data_kind(path) == "csv":
            period = _legacy_csv_period(f, sniffer)
            if period is not None:
                csv[period].append(f)

    for (_, period), files in sorted(parquet.items()):
        out.append(_delivery(period, "legacy-parquet", files, None))
    for period, files in sorted(csv.items()):
        folders = sorted({posixpath.dirname(f.path) for f in files})
        if len(folders) > 1:
            raise IngestError(
                f"legacy CUR CSV files of billing period {period} in several folders ({', '.join(folders)}) "
                "and no manifest to tell which delivery is current"
            )
        out.append(_delivery(period, "legacy-csv", files, None))
    return out


def _legacy_csv_period(f: SourceFile, sniffer: _Sniffer) -> str | None:
    """Billing period of a legacy CUR CSV, or None if the CSV is not a CUR (other CSVs are skipped)."""
    columns = sniffer.columns(f)
    by_athena = {athena_name(c): c for c in columns}
    if "line_item_line_item_type" not in by_athena:
        log.debug("%s: CSV without lineItem/LineItemType: not a CUR file, skipped", f.path)
        return None
    header = by_athena.get("bill_billing_period_start_date")
    if header is None:
        raise IngestError(f"{f.path}: missing required column bill/BillingPeriodStartDate")
    value = sniffer.first_value(f, header)
    folder = _folder_period(f.path)
    if value is None:
        if folder is None:
            raise IngestError(f"{f.path}: no rows and no dated folder: cannot tell its billing period")
        return folder
    period = _period(value[:7], f"{header} value", f.path)
    if folder is not None and folder != period:
        raise IngestError(f"{f.path}: {header} says billing period {period} but its folder says {folder}")
    return period


# --- FOCUS outside the Data Exports layout (Azure, Google Cloud, OCI) ------------------------

def _focus_deliveries(listing: dict[str, SourceFile], sniffer: _Sniffer, claimed: set[str]) -> list[Delivery]:
    unclaimed = {p: f for p, f in listing.items() if p not in claimed}
    groups = focus_file_groups(unclaimed, sniffer.columns, sniffer.first_value, _data_kind)
    return [
        _delivery(_period(period, "BillingPeriodStart", files[0].path), f"focus-{kind}", files, None)
        for (period, kind), files in sorted(groups.items())
    ]


# --- one delivery per period ----------------------------------------------------------------

def _one_per_period(candidates: list[Delivery]) -> list[Delivery]:
    by_period: dict[str, list[Delivery]] = defaultdict(list)
    for d in candidates:
        by_period[d.billing_period].append(d)
    out = []
    for period in sorted(by_period):
        group = sorted(by_period[period], key=lambda d: FORMATS.index(d.format))
        best = [d for d in group if d.format == group[0].format]
        if len(best) > 1:
            where = "; ".join(_where(d) for d in best)
            raise IngestError(f"billing period {period} is delivered twice as {group[0].format}: {where}")
        for other in group[1:]:
            log.warning("billing period %s: using %s, ignoring %s (%s)", period, group[0].format, other.format, _where(other))
        out.append(group[0])
    return out


def _where(d: Delivery) -> str:
    return d.manifest.path if d.manifest else posixpath.dirname(d.files[0].path)
