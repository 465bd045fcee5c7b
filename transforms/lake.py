"""The lake writer: publish one billing-period partition of a curated table in one step, keep the
last good versions, roll back.

Layout (``<lake>`` is a local directory or ``s3://bucket/prefix``)::

    <lake>/<table>/billing_period=YYYY-MM/part-<version>-<n>.parquet    live partition (Hive layout)
    <lake>/<table>/_versions/billing_period=YYYY-MM.json               current version + history
    <lake>/_history/<table>/billing_period=YYYY-MM/<version>/part-*    every retained version
    <lake>/_staging/<table>/<run>/                                      local lakes: files being written

Readers that glob ``<lake>/<table>/**/*.parquet`` see only live partitions: staging and history
live outside the table directory because DuckDB and polars descend into ``.``/``_`` folders.
The files never hold the ``billing_period`` column (it is the Hive key), and hold only Parquet
types that DuckDB, polars, pyarrow and Spark all read unchanged.

``_history`` holds the current version too, not only the replaced ones: on a local lake as hard
links to the live files (no extra space), on S3 as the uploaded copy the live files are copied
from. Readers that must never see a file vanish mid-query (the catalog, ``read_partition_sql``)
read those immutable copies, pinned by name; they stay until ``keep_history`` newer versions
have replaced them.

What a reader globbing the live layout sees while a partition is published:

* Local lake: the new partition directory is built beside the lake (``_staging``, same file
  system), then swapped with the live one by ``renameat2(RENAME_EXCHANGE)``: a path lookup finds
  the old directory or the new one, never neither and never a mix. A query that lists the
  directory just before the swap can still fail after it, with an IO error ("No such file or
  directory" for a listed file, or "No files found" when the replaced directory was emptied
  while being listed): never wrong numbers, and a retry reads the new version. Measured with
  multi-file partitions, 2% of tight-loop glob queries overlapping a publish failed that way.
  Where ``renameat2`` is missing (non-Linux, or a file system without RENAME_EXCHANGE) two
  renames are used instead, and for the microseconds between them the partition is absent (a
  glob finds no files for that month).
* S3 lake: there is no rename. The new files are uploaded under ``_history``, copied next to
  the old ones in the live prefix, and only then are the old files deleted. Between the first
  copy and the last delete a plain glob can see both versions (rows counted twice); pinned
  readers never do. A run killed inside that window leaves both until the partition is
  published again. Only one writer per partition at a time (no locks on S3).

The ``_versions`` JSON is written last: it is the record of what is current. Versions are
``YYYYMMDDTHHMMSSffffffZ-xxxxxx`` (UTC time + random), sortable and unique.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import duckdb
from duckdb.sqltypes import DuckDBPyType

from transforms import periods, storage

PARTITION_KEY = "billing_period"
DEFAULT_KEEP_HISTORY = 3
DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
# DuckDB's own default. Each writing thread buffers a whole row group before flushing it: at 1M rows a
# 76-column FOCUS month held 2.5 GB per million rows written and, at 10M rows, spilled 165 GB.
DEFAULT_ROW_GROUP_SIZE = 122_880
STATE_FORMAT = 1

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_VERSION = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{6}$")
_PART_FILE = re.compile(r"^part-(?P<version>.+)-(?P<n>\d+)\.parquet$")
_STATE_FILE = re.compile(r"^billing_period=(\d{4}-\d{2})\.json$")

# DuckDB type ids every lake reader (DuckDB, polars, pyarrow, Spark) reads back unchanged.
_PORTABLE_TYPES = frozenset(
    {"boolean", "tinyint", "smallint", "integer", "bigint", "float", "double", "decimal",
     "varchar", "blob", "date", "timestamp", "list", "struct", "map"}
)
_TYPE_ADVICE = {
    "hugeint": "cast it to BIGINT or DECIMAL(38,0) (sum() of integers returns HUGEINT)",
    "uhugeint": "cast it to DECIMAL(38,0)",
    "ubigint": "cast it to BIGINT or DECIMAL(20,0)",
    "uinteger": "cast it to BIGINT",
    "usmallint": "cast it to INTEGER",
    "utinyint": "cast it to SMALLINT",
    "timestamp with time zone": "convert it to a UTC TIMESTAMP, e.g. (col AT TIME ZONE 'UTC')",
    "timestamp_ns": "cast it to TIMESTAMP (microseconds)",
    "timestamp_ms": "cast it to TIMESTAMP",
    "timestamp_s": "cast it to TIMESTAMP",
    "array": "cast it to a LIST, e.g. col::INTEGER[]",
}

# renameat2(2) constants (linux/fcntl.h, linux/fs.h).
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


class LakeError(Exception):
    """A lake operation that cannot be carried out; the live partitions are unchanged."""


class LakeNameError(LakeError, ValueError):
    """A table name, version or view name that must not become a path or identifier."""


@dataclass(frozen=True)
class PublishResult:
    """What ``publish_partition`` (or ``rollback``) made live."""

    table: str
    billing_period: str
    version: str
    rows: int
    files: tuple[str, ...]
    bytes: int
    previous_version: str | None


# ----------------------------------------------------------------------------------- names


def validate_table_name(name: str) -> str:
    """Return ``name`` if it is a safe table name (``[a-z][a-z0-9_]*``), else raise.

    Table names become directory names: anything else (``..``, ``/``, upper case, a leading
    ``_`` that would hide the table from Spark and pyarrow) is refused before it reaches a path.
    """
    if not isinstance(name, str) or not _TABLE_NAME.match(name):
        raise LakeNameError(
            f"table name {name!r} is not allowed: use 1-63 lowercase letters, digits and '_', "
            "starting with a letter (e.g. cost_line_items)"
        )
    return name


def validate_version(version: str) -> str:
    """Return ``version`` if it has the shape ``new_version()`` gives, else raise."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise LakeNameError(
            f"version {version!r} is not of the form YYYYMMDDTHHMMSSffffffZ-xxxxxx "
            "(e.g. 20250201T120000000000Z-1a2b3c, as new_version() returns)"
        )
    return version


_version_lock = threading.Lock()
_last_version_us = 0


def new_version() -> str:
    """A new version id: UTC time to the microsecond + 6 random hex digits.

    Strictly increasing within a process (so "the previous version" is well defined even for
    publishes in the same microsecond) and unique across processes (the random part).
    """
    global _last_version_us
    with _version_lock:
        now_us = time.time_ns() // 1000
        _last_version_us = max(now_us, _last_version_us + 1)
        moment = datetime.fromtimestamp(_last_version_us / 1_000_000, timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier, whatever characters it holds."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise LakeNameError(f"identifier {name!r} must be a non-empty string without NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a SQL string literal: for SQL that is stored (views), where nothing is bound."""
    if "\x00" in text:
        raise LakeNameError(f"string {text!r} contains NUL")
    return "'" + text.replace("'", "''") + "'"


# ----------------------------------------------------------------------------------- paths


def _table_dir(lake: str, table: str) -> str:
    return storage.join(lake_root(lake), validate_table_name(table))


def _live_dir(lake: str, table: str, billing_period: str) -> str:
    return storage.join(_table_dir(lake, table), f"{PARTITION_KEY}={periods.validate(billing_period)}")


def _state_path(lake: str, table: str, billing_period: str) -> str:
    return storage.join(_table_dir(lake, table), "_versions", f"{PARTITION_KEY}={periods.validate(billing_period)}.json")


def _history_dir(lake: str, table: str, billing_period: str, version: str | None = None) -> str:
    part = storage.join(lake_root(lake), "_history", validate_table_name(table), f"{PARTITION_KEY}={periods.validate(billing_period)}")
    return storage.join(part, validate_version(version)) if version else part


def lake_root(lake: str) -> str:
    """The lake's root URL: absolute for a local lake (its paths end up in views that analysts
    read from any working directory), without a trailing slash for S3."""
    lake = str(lake)
    return lake.rstrip("/") if storage.is_s3(lake) else os.path.abspath(lake)


def partition_glob(lake: str, table: str, billing_period: str | None = None) -> str:
    """The glob of a table's live files (one partition, or all): what external readers scan.

    ``hive_partitioning`` gives ``billing_period`` back from the directory name.
    """
    key = f"{PARTITION_KEY}={periods.validate(billing_period)}" if billing_period is not None else f"{PARTITION_KEY}=*"
    return storage.join(_table_dir(lake, table), key, "*.parquet")


# ----------------------------------------------------------------------------------- state


def _read_state(lake: str, table: str, billing_period: str) -> dict[str, Any] | None:
    return _read_states(lake, table, [billing_period]).get(billing_period)


def _read_states(lake: str, table: str, partitions: list[str]) -> dict[str, dict[str, Any]]:
    """The version records of ``partitions`` that exist (fetched concurrently from S3)."""
    paths = {storage.strip_protocol(_state_path(lake, table, p)): p for p in partitions}
    if not paths:
        return {}
    raw = storage.filesystem(lake_root(lake)).cat(list(paths), on_error="omit")
    return {paths[path]: _parse_state(data, path) for path, data in raw.items()}


def _parse_state(raw: bytes, path: str) -> dict[str, Any]:
    try:
        state = json.loads(raw)
        if state.get("format") != STATE_FORMAT or not isinstance(state.get("current"), dict) or not isinstance(state.get("history"), list):
            raise ValueError(f"format {state.get('format')!r}, expected {STATE_FORMAT} with 'current' and 'history'")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise LakeError(f"version record {path} is unreadable: {exc}") from exc
    return state


def _write_state(lake: str, state: dict[str, Any]) -> None:
    """Write the version record in one step (local: temp file + rename; S3: one PUT)."""
    path = _state_path(lake, state["table"], state["billing_period"])
    data = json.dumps(state, indent=1, sort_keys=True).encode()
    if storage.is_s3(path):
        storage.filesystem(path).pipe_file(storage.strip_protocol(path), data)
        return
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(folder)


def _records(state: dict[str, Any] | None) -> list[dict[str, Any]]:
    """All retained version records of a partition, oldest first, the current one included."""
    if state is None:
        return []
    return sorted([state["current"], *state["history"]], key=lambda r: r["version"])


def current_version(lake: str, table: str, billing_period: str) -> str | None:
    """The version the partition's record names as current (None before the first publish)."""
    state = _read_state(lake, table, billing_period)
    return state["current"]["version"] if state else None


def list_versions(lake: str, table: str, billing_period: str) -> list[str]:
    """Every retained version of the partition, oldest first, the current one included."""
    return [r["version"] for r in _records(_read_state(lake, table, billing_period))]


def version_records(lake: str, table: str, billing_period: str) -> list[dict[str, Any]]:
    """Every retained version record of the partition, oldest first, the current one included:
    ``version``, ``published_at``, ``rows``, ``bytes``, ``files``, ``columns``, ``lineage``."""
    return _records(_read_state(lake, validate_table_name(table), periods.validate(billing_period)))


def list_partitions(lake: str, table: str) -> list[str]:
    """Billing periods of ``table`` that have a published version, in order."""
    folder = storage.join(_table_dir(lake, table), "_versions")
    fs = storage.filesystem(folder)
    try:
        names = [os.path.basename(p.rstrip("/")) for p in fs.ls(storage.strip_protocol(folder), detail=False)]
    except FileNotFoundError:
        return []
    return sorted(m.group(1) for m in map(_STATE_FILE.match, names) if m)


def list_tables(lake: str) -> list[str]:
    """Tables of the lake: directories with a valid table name and at least one published partition."""
    root = lake_root(lake)
    fs = storage.filesystem(root)
    try:
        entries = fs.ls(storage.strip_protocol(root), detail=True)
    except FileNotFoundError:
        return []
    names = sorted(
        os.path.basename(e["name"].rstrip("/"))
        for e in entries
        if e["type"] == "directory" and _TABLE_NAME.match(os.path.basename(e["name"].rstrip("/")))
    )
    return [t for t in names if list_partitions(lake, t)]


def _current_files(lake: str, table: str, billing_period: str | None) -> list[tuple[str, dict[str, Any]]]:
    """(pinned file, version record) of the current version of one partition or of all."""
    partitions = [periods.validate(billing_period)] if billing_period is not None else list_partitions(lake, table)
    states = _read_states(lake, table, partitions)
    return [
        (storage.join(_history_dir(lake, table, period, states[period]["current"]["version"]), name), states[period]["current"])
        for period in partitions
        if period in states
        for name in states[period]["current"]["files"]
    ]


def current_files(lake: str, table: str, billing_period: str | None = None) -> list[str]:
    """The files of the current version of one partition (or of every partition), pinned.

    They are the immutable copies under ``_history``: a query over them sees exactly one
    version per partition and keeps working while newer versions are published, until
    ``keep_history`` further publishes delete them.
    """
    return [path for path, _ in _current_files(lake, table, billing_period)]


def read_partition_sql(lake: str, table: str, billing_period: str | None = None) -> str:
    """A DuckDB table expression over the current version of one partition (or all), pinned.

    ``SELECT ... FROM <this>`` returns the table's columns plus ``billing_period`` (VARCHAR).
    The file names are written into the SQL as escaped literals, because the text is meant for
    views, which cannot hold bound parameters. ``union_by_name`` (which reads every file's
    footer at each query) is set only when the partitions' column lists differ.
    """
    pinned = _current_files(lake, table, billing_period)
    if not pinned:
        where = f"partition {billing_period}" if billing_period is not None else "any partition"
        raise LakeError(f"table {table!r} has no published version of {where} in lake {lake_root(lake)}")
    union = len({json.dumps(rec["columns"]) for _, rec in pinned}) > 1
    return _read_files_sql([path for path, _ in pinned], union=union)


def _read_files_sql(paths: list[str], *, union: bool = False) -> str:
    """``read_parquet`` of lake files as readers see them: the table's columns plus ``billing_period`` from the path."""
    return (
        f"read_parquet([{', '.join(quote_literal(path) for path in paths)}], hive_partitioning = true, "
        f"hive_types = {{'{PARTITION_KEY}': VARCHAR}}, union_by_name = {'true' if union else 'false'})"
    )


# ----------------------------------------------------------------------------------- publish


def publish_partition(
    con: duckdb.DuckDBPyConnection,
    relation_or_sql: duckdb.DuckDBPyRelation | str,
    lake: str,
    table: str,
    billing_period: str,
    *,
    params: dict[str, Any] | None = None,
    sort_by: list[str] | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    version: str | None = None,
    lineage: dict[str, Any] | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    keep_history: int = DEFAULT_KEEP_HISTORY,
) -> PublishResult:
    """Write ``relation_or_sql`` as the new version of ``<lake>/<table>/billing_period=...``.

    The rows stream from DuckDB into zstd Parquet files (rotated past ``max_file_bytes``,
    sorted by ``sort_by``) in a staging location, never the live partition, then replace the
    live partition in one step (see the module docstring). A failure or kill before that step
    leaves the live partition as it was. A ``billing_period`` column in the rows is checked
    against ``billing_period`` (a mismatch fails the write) and left out of the files.
    ``params`` are bound to ``$name`` placeholders of SQL text; ``lineage`` (JSON) is recorded
    with the version; the ``keep_history`` newest replaced versions are kept for ``rollback``.

    To audit the written files before they go live, use ``stage_partition``.
    """
    with stage_partition(
        con, relation_or_sql, lake, table, billing_period, params=params, sort_by=sort_by,
        row_group_size=row_group_size, version=version, max_file_bytes=max_file_bytes,
    ) as staged:
        return staged.publish(lineage=lineage, keep_history=keep_history)


@dataclass
class StagedPartition:
    """A version written to staging by ``stage_partition``: its files can be read and audited,
    and ``publish()`` makes it live. Unpublished, it is deleted when the ``with`` block ends."""

    lake: str
    table: str
    billing_period: str
    version: str
    rows: int
    folder: str
    files: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    published: PublishResult | None = None

    @property
    def paths(self) -> list[str]:
        """The staged Parquet files (local paths), for ``read_parquet``."""
        return [os.path.join(self.folder, f) for f in self.files]

    def read_sql(self) -> str:
        """A DuckDB table expression over the staged files, as ``read_partition_sql`` reads a
        published version: the table's columns plus ``billing_period``. Only until ``publish()``:
        publishing moves the files (a view made from this text must not be read afterwards)."""
        if self.published is not None:
            raise LakeError(f"{self.table}/{PARTITION_KEY}={self.billing_period}: version {self.version} is published; "
                            f"read it with read_partition_sql")
        return _read_files_sql(self.paths)

    @property
    def bytes(self) -> int:
        return sum(os.path.getsize(p) for p in self.paths)

    def publish(self, *, lineage: dict[str, Any] | None = None, keep_history: int = DEFAULT_KEEP_HISTORY) -> PublishResult:
        """Make this version the live partition in one step; ``lineage`` (JSON) is recorded with it."""
        _check_keep(keep_history)
        lineage = _check_lineage(lineage)
        if self.published is not None:
            raise LakeError(f"{self.table}/{PARTITION_KEY}={self.billing_period}: version {self.version} is already published")
        record = {
            "version": self.version,
            "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": self.rows,
            "bytes": self.bytes,
            "files": list(self.files),
            "columns": [list(c) for c in self.columns],
            "lineage": lineage,
        }
        _fsync_files(self.folder, list(self.files))
        with _partition_lock(self.lake, self.table, self.billing_period):
            previous = _make_current(self.lake, self.table, self.billing_period, record, self.folder, keep_history)
        live = _live_dir(self.lake, self.table, self.billing_period)
        self.published = PublishResult(
            table=self.table,
            billing_period=self.billing_period,
            version=self.version,
            rows=self.rows,
            files=tuple(storage.join(live, f) for f in self.files),
            bytes=record["bytes"],
            previous_version=previous,
        )
        return self.published


@contextlib.contextmanager
def stage_partition(
    con: duckdb.DuckDBPyConnection,
    relation_or_sql: duckdb.DuckDBPyRelation | str,
    lake: str,
    table: str,
    billing_period: str,
    *,
    params: dict[str, Any] | None = None,
    sort_by: list[str] | None = None,
    row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
    version: str | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Iterator[StagedPartition]:
    """Write-audit-publish with one write: the new version's Parquet files are written to staging
    (as ``publish_partition`` writes them) and yielded, to be audited where they lie and then
    published by renaming, never rewritten. Leaving the block without ``publish()`` (a failed
    gate, an exception) deletes them; the live partition is untouched until ``publish()``."""
    table = validate_table_name(table)
    billing_period = periods.validate(billing_period)
    version = validate_version(version) if version is not None else new_version()
    _check_positive("row_group_size", row_group_size)
    _check_positive("max_file_bytes", max_file_bytes)
    label = f"{table}/{PARTITION_KEY}={billing_period}"
    if version in list_versions(lake, table, billing_period):
        raise LakeError(f"{label}: version {version} already exists; publish with a new version")

    with _source_query(con, relation_or_sql, params) as (query, bound):
        columns = _columns(con, query, bound, label)
        copy_sql, checks_key, stored = _copy_statement(query, columns, sort_by, label)
        with _staging(_staging_root(lake, table), version) as stage:
            staged = os.path.join(stage, f"{PARTITION_KEY}={billing_period}")
            copy_params = {
                **bound,
                "curlake_target": staged,
                "curlake_row_group_size": row_group_size,
                "curlake_max_file_bytes": max_file_bytes,
                "curlake_file_pattern": f"part-{version}-{{i}}",
            }
            if checks_key:  # DuckDB rejects bound parameters a statement does not use
                copy_params.update(curlake_billing_period=billing_period, curlake_partition=label)
            try:
                (rows,) = con.execute(copy_sql, copy_params).fetchone()
            except duckdb.Error as exc:
                raise LakeError(f"{label}: writing version {version} failed, the live partition is unchanged: {exc}") from exc
            files = _staged_files(staged, version, label)
            yield StagedPartition(lake, table, billing_period, version, int(rows), staged, tuple(files), tuple(stored))


def rollback(
    lake: str,
    table: str,
    billing_period: str,
    version: str | None = None,
    *,
    keep_history: int = DEFAULT_KEEP_HISTORY,
) -> str:
    """Make a retained version current again (default: the newest one older than the current).

    The swap is the same as a publish's; the replaced version stays in the history, so a
    rollback is undone by rolling back to it by name. Returns the version now current.
    """
    table = validate_table_name(table)
    billing_period = periods.validate(billing_period)
    _check_keep(keep_history)
    label = f"{table}/{PARTITION_KEY}={billing_period}"
    with _partition_lock(lake, table, billing_period):
        state = _read_state(lake, table, billing_period)
        if state is None:
            raise LakeError(f"{label}: nothing to roll back, the partition was never published")
        current = state["current"]["version"]
        history = {r["version"]: r for r in state["history"]}
        if version is None:
            older = sorted(v for v in history if v < current)
            if not older:
                raise LakeError(f"{label}: no version older than the current {current} is retained (history: {sorted(history)})")
            version = older[-1]
        validate_version(version)
        if version == current:
            return current
        if version not in history:
            raise LakeError(f"{label}: version {version} is not retained; available: {sorted([*history, current])}")
        record = history[version]
        source = _history_dir(lake, table, billing_period, version)
        run = new_version()
        if storage.is_s3(lake):
            _s3_make_live(lake, table, billing_period, record, source)
            _commit_state(lake, state, record, keep_history, run)
            return version
        with _staging(_staging_root(lake, table), run) as stage:
            staged = os.path.join(stage, f"{PARTITION_KEY}={billing_period}")
            os.mkdir(staged)
            for name in record["files"]:
                _link_or_copy(os.path.join(source, name), os.path.join(staged, name))
            _swap_live(staged, _live_dir(lake, table, billing_period))
            _commit_state(lake, state, record, keep_history, run)
    return version


def _make_current(lake: str, table: str, billing_period: str, record: dict[str, Any], staged: str, keep: int) -> str | None:
    """Put the staged files in the history and live, record them; return the replaced version."""
    state = _read_state(lake, table, billing_period)
    previous = state["current"]["version"] if state else None
    target = _history_dir(lake, table, billing_period, record["version"])
    if storage.is_s3(lake):
        fs = storage.filesystem(lake)
        fs.put([os.path.join(staged, f) for f in record["files"]],
               [storage.strip_protocol(storage.join(target, f)) for f in record["files"]])
        _s3_make_live(lake, table, billing_period, record, target)
    else:
        incomplete = os.path.join(os.path.dirname(target), f".{record['version']}.incomplete")
        os.makedirs(incomplete)
        for name in record["files"]:
            _link_or_copy(os.path.join(staged, name), os.path.join(incomplete, name))
        os.rename(incomplete, target)
        _swap_live(staged, _live_dir(lake, table, billing_period))
    new_state = state or {"format": STATE_FORMAT, "table": table, "billing_period": billing_period, "history": []}
    _commit_state(lake, new_state, record, keep, record["version"])
    return previous


def _commit_state(lake: str, state: dict[str, Any], record: dict[str, Any], keep: int, run: str) -> None:
    """Record ``record`` as current, the old current as history; then apply retention."""
    replaced = [state["current"]] if state.get("current") and state["current"]["version"] != record["version"] else []
    history = [r for r in [*state["history"], *replaced] if r["version"] != record["version"]]
    history.sort(key=lambda r: r["version"])
    kept = history[max(0, len(history) - keep):] if keep else []
    state = {**state, "current": record, "history": kept}
    _write_state(lake, state)  # before deleting: the record never names a deleted version
    _prune_history(lake, state, run)


def _prune_history(lake: str, state: dict[str, Any], run_version: str) -> None:
    """Delete history folders the record no longer names (dropped versions, killed runs' leftovers).

    Local: called under the partition lock, so every unnamed folder is garbage. S3: only
    folders of versions older than this run's, as another writer's newer upload may be going on.
    """
    keep = {r["version"] for r in _records(state)}
    folder = _history_dir(lake, state["table"], state["billing_period"])
    fs = storage.filesystem(folder)
    try:
        entries = fs.ls(storage.strip_protocol(folder), detail=False)
    except FileNotFoundError:
        return
    for entry in entries:
        name = os.path.basename(entry.rstrip("/"))
        if name in keep:
            continue
        if storage.is_s3(lake):
            if _VERSION.match(name) and name < run_version:
                fs.rm(entry, recursive=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


# ----------------------------------------------------------------------------------- the query


@contextlib.contextmanager
def _source_query(con: duckdb.DuckDBPyConnection, source: duckdb.DuckDBPyRelation | str, params: dict[str, Any] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The rows to publish as SQL text + bound parameters (a relation is exposed as a temp view)."""
    if isinstance(source, duckdb.DuckDBPyRelation):
        if params:
            raise LakeError("params apply to SQL text only: a relation has its values bound already")
        name = f"curlake_publish_{secrets.token_hex(8)}"
        try:
            con.register(name, source)
        except duckdb.Error as exc:
            raise LakeError(f"the relation to publish must come from the connection passed as con: {exc}") from exc
        try:
            yield f"SELECT * FROM {quote_identifier(name)}", {}
        finally:
            con.unregister(name)
        return
    if not isinstance(source, str) or not source.strip().rstrip(";").strip():
        raise LakeError(f"relation_or_sql must be a DuckDB relation or a SELECT statement, got {source!r}")
    bound = dict(params or {})
    clash = sorted(k for k in bound if k.startswith("curlake_"))
    if clash:
        raise LakeError(f"parameter names starting with 'curlake_' are reserved by the lake writer: {clash}")
    yield source.strip().rstrip(";").strip(), bound


def _columns(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any], label: str) -> list[tuple[str, DuckDBPyType]]:
    """Names and types of the query's columns, from its plan (no row is read)."""
    try:
        description = con.execute(f"SELECT * FROM (\n{query}\n) AS curlake_source LIMIT 0", params).description
    except duckdb.Error as exc:
        raise LakeError(f"{label}: the query to publish does not run: {exc}") from exc
    return [(d[0], d[1]) for d in description]


def _copy_statement(
    query: str,
    columns: list[tuple[str, DuckDBPyType]],
    sort_by: list[str] | None,
    label: str,
) -> tuple[str, bool, list[tuple[str, str]]]:
    """The COPY statement, whether it checks a ``billing_period`` column (and so binds
    ``$curlake_billing_period`` and ``$curlake_partition``), and the stored (name, type) list."""
    # Names are unique case-insensitively: DuckDB renames repeats of a subquery's columns (a, a_1).
    seen = {name.lower(): name for name, _ in columns}
    key = seen.get(PARTITION_KEY)
    stored = [(n, t) for n, t in columns if n.lower() != PARTITION_KEY]
    if not stored:
        raise LakeError(f"{label}: the query has no column besides {PARTITION_KEY}")
    for name, type_ in stored:
        problem = _unportable(type_)
        if problem:
            raise LakeError(f"{label}: column {name!r} has type {type_}: {problem}")
    order = []
    for col in sort_by or []:
        if not isinstance(col, str) or col.lower() not in seen or col.lower() == PARTITION_KEY:
            raise LakeError(f"{label}: sort_by column {col!r} is not a stored column; columns: {[n for n, _ in stored]}")
        order.append(quote_identifier(seen[col.lower()]))
    select = f"* EXCLUDE ({quote_identifier(key)})" if key else "*"
    where = (
        f" WHERE CASE WHEN {quote_identifier(key)} IS DISTINCT FROM $curlake_billing_period THEN "
        f"error('row with {PARTITION_KEY} ' || coalesce('''' || {quote_identifier(key)} || '''', 'NULL') "
        "|| ' cannot be published to ' || $curlake_partition) ELSE true END"
        if key else ""
    )
    order_by = f" ORDER BY {', '.join(order)}" if order else ""
    sql = (
        # Newlines around the query: a trailing "-- comment" in it must not swallow the ")".
        f"COPY (SELECT {select} FROM (\n{query}\n) AS curlake_source{where}{order_by}) TO $curlake_target "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE $curlake_row_group_size, "
        "FILE_SIZE_BYTES $curlake_max_file_bytes, FILENAME_PATTERN $curlake_file_pattern)"
    )
    return sql, key is not None, [(n, str(t)) for n, t in stored]


def _unportable(type_: DuckDBPyType) -> str | None:
    """Why a column of this type should not be written to the lake, or None if it is fine."""
    kind = type_.id
    if kind not in _PORTABLE_TYPES:
        advice = _TYPE_ADVICE.get(kind, "cast it to VARCHAR or a numeric type")
        return f"{str(type_)} is not read back unchanged by every lake reader (DuckDB, polars, pyarrow, Spark); {advice}"
    if kind in ("list", "struct", "map"):
        for _, child in type_.children:
            problem = _unportable(child)
            if problem:
                return problem
    return None


def _staged_files(staged: str, version: str, label: str) -> list[str]:
    """The files DuckDB wrote, in write (= sort) order; at least one, even for zero rows."""
    names = os.listdir(staged) if os.path.isdir(staged) else []
    parts = []
    for name in names:
        m = _PART_FILE.match(name)
        if not m or m.group("version") != version:
            raise LakeError(f"{label}: unexpected file {name!r} in staging {staged}")
        parts.append((int(m.group("n")), name))
    if not parts:
        raise LakeError(f"{label}: DuckDB wrote no file to {staged}")
    return [name for _, name in sorted(parts)]


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LakeError(f"{name} must be a positive integer, got {value!r}")


def _check_keep(keep: int) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise LakeError(f"keep_history must be an integer >= 0, got {keep!r}")


def _check_lineage(lineage: dict[str, Any] | None) -> dict[str, Any]:
    if lineage is None:
        return {}
    if not isinstance(lineage, dict):
        raise LakeError(f"lineage must be a dict, got {type(lineage).__name__}")
    try:
        return json.loads(json.dumps(lineage))
    except (TypeError, ValueError) as exc:
        raise LakeError(f"lineage must be JSON-serializable: {exc}") from exc


# ----------------------------------------------------------------------------------- staging


def _staging_root(lake: str, table: str) -> str:
    """Where a run writes before publishing: inside the lake (same file system, so the swap is a
    rename) for a local lake; a local temp folder for an S3 lake, uploaded from there."""
    if storage.is_s3(lake):
        digest = hashlib.sha256(lake_root(lake).encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), "curlake-staging", digest, table)
    return os.path.join(lake_root(lake), "_staging", table)


@contextlib.contextmanager
def _staging(root: str, run: str) -> Iterator[str]:
    """A fresh staging folder ``root/run`` owned by this run, removed afterwards.

    The run holds an flock on ``root/run.lock`` until it ends; the kernel drops it when the
    process dies. Leftovers of runs that are older than this one and whose lock can be taken
    (their process is gone) are deleted first: a killed run's staging never piles up, and a
    concurrent run's (another partition of the same table) is never touched.
    """
    os.makedirs(root, exist_ok=True)
    lock_path = os.path.join(root, f"{run}.lock")
    # Locked before it gets its name, so a sweeper can never take a live run's lock.
    tmp = os.path.join(root, f".{run}.{secrets.token_hex(4)}.lock-tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    folder = os.path.join(root, run)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(tmp, lock_path)
        _sweep_staging(root, run)
        os.mkdir(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for path in (tmp, lock_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)


def _sweep_staging(root: str, run: str) -> None:
    """Delete staging folders of dead runs older than ``run``."""
    for name in sorted(os.listdir(root)):
        if name.endswith(".lock-tmp"):
            # A run killed between creating its lock file and naming it. A live run names it
            # within microseconds, so one an hour old is safe to delete.
            path = os.path.join(root, name)
            with contextlib.suppress(FileNotFoundError):
                if time.time() - os.path.getmtime(path) > 3600:
                    os.unlink(path)
            continue
        stem = name[: -len(".lock")] if name.endswith(".lock") else name
        if not _VERSION.match(stem) or stem >= run:
            continue
        lock_path = os.path.join(root, f"{stem}.lock")
        try:
            fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            shutil.rmtree(os.path.join(root, stem), ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock_path)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _partition_lock(lake: str, table: str, billing_period: str) -> Iterator[None]:
    """Serialize the publish step of one partition among processes sharing a local lake.

    S3 has no lock: one writer per partition at a time is the caller's (Dagster's) job.
    """
    if storage.is_s3(lake):
        yield
        return
    root = _staging_root(lake, table)
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, f"{PARTITION_KEY}={billing_period}.lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _runs_dir(lake: str) -> str:
    """Where the run locks of a lake live: beside its staging (``_runs`` is no valid table name)."""
    if storage.is_s3(lake):
        digest = hashlib.sha256(lake_root(lake).encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), "curlake-staging", digest, "_runs")
    return os.path.join(lake_root(lake), "_staging", "_runs")


@contextlib.contextmanager
def period_lock(
    lake: str,
    billing_period: str,
    *,
    on_wait: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold the run lock of one billing period of a lake for as long as the block runs.

    A run writes a dozen tables of its period, each read by the next; two runs of one period at
    once would interleave them (one run's allocation built on the other's line items). The
    publish step of each table is serialized by its own lock; this one is for a whole run. It is
    an flock on ``<lake>/_staging/_runs/billing_period=YYYY-MM.lock`` (S3 lake: the same name in
    the local staging folder, so it serializes the runs of this machine only; runs on several
    machines rely on Dagster's run queue). The kernel drops it when the process dies: a killed
    run never blocks the next, and nothing needs cleaning up.

    Not re-entrant: a second ``period_lock`` of the same period in the same process waits like
    another process would. ``on_wait`` is called once, with what the holder wrote in the lock
    file (pid, host, start), if the lock is taken; ``timeout`` (seconds) turns a long wait into
    a LakeError.
    """
    name = f"{PARTITION_KEY}={periods.validate(billing_period)}.lock"  # validated before any path is made
    folder = _runs_dir(lake)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(os.pread(fd, 512, 0).decode(errors="replace").strip() or "holder unknown")
            _wait_for_flock(fd, timeout, f"billing period {billing_period} of lake {lake_root(lake)}")
        holder = f"pid {os.getpid()} on {os.uname().nodename}, since {datetime.now(timezone.utc).isoformat(timespec='seconds')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield
    finally:
        os.close(fd)


def _wait_for_flock(fd: int, timeout: float | None, what: str) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LakeError(f"another run still holds {what} after {timeout:g} s") from None
            time.sleep(0.05)


# ----------------------------------------------------------------------------------- swapping


def _load_renameat2():
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()


def _exchange(a: str, b: str) -> bool:
    """Swap two directories atomically; False where the system cannot (then nothing changed)."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), b)


def _swap_live(staged: str, live: str) -> None:
    """Make the directory ``staged`` the live partition ``live``; remove what it replaces."""
    os.makedirs(os.path.dirname(live), exist_ok=True)
    if not os.path.exists(live):
        os.rename(staged, live)
        _fsync_dir(os.path.dirname(live))
        return
    if _exchange(staged, live):
        replaced = staged
    else:  # two renames: the partition is absent between them
        replaced = staged + ".replaced"
        os.rename(live, replaced)
        os.rename(staged, live)
    _fsync_dir(os.path.dirname(live))
    # The replaced files are also under _history (hard links) for as long as they are retained.
    shutil.rmtree(replaced)


def _s3_make_live(lake: str, table: str, billing_period: str, record: dict[str, Any], source: str) -> None:
    """Copy a version's files from the history into the live prefix, then delete the others."""
    fs = storage.filesystem(lake)
    live = storage.strip_protocol(_live_dir(lake, table, billing_period))
    names = record["files"]
    try:
        fs.copy([storage.strip_protocol(storage.join(source, n)) for n in names], [f"{live}/{n}" for n in names])
    except Exception as exc:
        # Take back what was copied so the live prefix holds the old version alone again.
        with contextlib.suppress(Exception):
            fs.rm([f"{live}/{n}" for n in names if fs.exists(f"{live}/{n}")])
        raise LakeError(f"{table}/{PARTITION_KEY}={billing_period}: copying version {record['version']} into the live prefix failed: {exc}") from exc
    try:
        present = fs.ls(live, detail=False)
    except FileNotFoundError:
        present = []
    wanted = set(names)
    stale = [p for p in present if os.path.basename(p) not in wanted]
    if stale:
        fs.rm(stale)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        shutil.copy2(src, dst)


def _fsync_files(folder: str, names: list[str]) -> None:
    """Flush the staged files to disk before they become live (a crash must not leave holes)."""
    for name in names:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
