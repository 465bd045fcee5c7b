"""The analyst catalog: ``<lake>/catalog.duckdb``, a DuckDB database with a view per lake table.

Each table view reads the current version of every partition from its pinned, immutable files
(``lake.read_partition_sql``), so a catalog query never mixes two versions of a month and never
loses a file mid-query while the pipeline publishes; ``billing_period`` comes back as VARCHAR
'YYYY-MM'. The catalog is a snapshot: the pipeline rebuilds it after publishing, and a catalog
left unrebuilt for more than ``keep_history`` publishes of a partition points at deleted files.

The file is never written in place, so analysts can keep it open read-only while it is rebuilt:
it is built under a unique temporary name (only this process opens it for writing), then
``os.replace``-d over the old one (local lake) or uploaded in one PUT (S3 lake). Readers holding
the old file keep reading the old snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time

import duckdb

from transforms import duck, lake as lake_io, storage

CATALOG_FILE = "catalog.duckdb"
ATTACH_NAME = "curlake_catalog"
_CACHE_TTL_SECONDS = 3600
_UNFINISHED = re.compile(r"^\.catalog-(\d+)-[0-9a-f]{12}\.duckdb(\.wal)?$")


def catalog_path(lake: str) -> str:
    """Where the catalog of ``lake`` lives: ``<lake>/catalog.duckdb``."""
    return storage.join(lake_io.lake_root(lake), CATALOG_FILE)


def build_catalog(lake: str, tables: list[str] | None = None, extra_views: dict[str, str] | None = None) -> str:
    """(Re)build the catalog of ``lake``; return its path (an ``s3://`` URL for an S3 lake).

    One view per table (default: every table with a published partition; a listed table with
    none yet gets no view), then one per ``extra_views`` entry, name -> SELECT text written by
    the caller, created in the given order (they may read the table views). A view that does
    not build fails the whole build and leaves the previous catalog in place.
    """
    names = lake_io.list_tables(lake) if tables is None else [lake_io.validate_table_name(t) for t in tables]
    extra = dict(extra_views or {})
    for name, sql in extra.items():
        lake_io.quote_identifier(name)
        if name.lower() in names:
            raise lake_io.LakeError(f"extra view {name!r} has the name of a lake table")
        if not isinstance(sql, str) or not sql.strip():
            raise lake_io.LakeError(f"extra view {name!r} needs SELECT text, got {sql!r}")
    target = catalog_path(lake)
    remote = storage.is_s3(target)
    workdir = tempfile.mkdtemp(prefix="curlake-catalog-") if remote else os.path.dirname(target)
    os.makedirs(workdir, exist_ok=True)
    if not remote:
        _sweep_unfinished(workdir)
    tmp = os.path.join(workdir, f".catalog-{os.getpid()}-{secrets.token_hex(6)}.duckdb")
    try:
        _write_views(tmp, lake, names, extra)
        if remote:
            storage.filesystem(target).put_file(tmp, storage.strip_protocol(target))
        else:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            dir_fd = os.open(workdir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    finally:
        for leftover in (tmp, tmp + ".wal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)
        if remote:
            shutil.rmtree(workdir, ignore_errors=True)
    return target


def _sweep_unfinished(folder: str) -> None:
    """Delete the temporary catalogs of builds that died (killed between writing and renaming).

    A build's file is named after its process: one whose process is gone from this machine is
    garbage, and so is any older than an hour (a build takes seconds; the lake may be shared).
    """
    for name in os.listdir(folder):
        m = _UNFINISHED.match(name)
        if not m:
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(FileNotFoundError):
            if not _alive(int(m.group(1))) or time.time() - os.path.getmtime(path) > _CACHE_TTL_SECONDS:
                os.unlink(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write_views(path: str, lake: str, tables: list[str], extra: dict[str, str]) -> None:
    # CREATE VIEW binds its query, which reads the pinned files' footers: a broken file fails
    # the build here, not an analyst's query later.
    con = duck.connect(path)
    try:
        for table in tables:
            if not lake_io.list_partitions(lake, table):
                continue
            body = lake_io.read_partition_sql(lake, table)
            try:
                con.execute(f"CREATE VIEW {lake_io.quote_identifier(table)} AS SELECT * FROM {body}")
            except duckdb.Error as exc:
                raise lake_io.LakeError(f"view of table {table!r} does not build from its current files: {exc}") from exc
        for name, sql in extra.items():
            try:
                con.execute(f"CREATE VIEW {lake_io.quote_identifier(name)} AS {sql.strip().rstrip(';')}")
            except duckdb.Error as exc:
                raise lake_io.LakeError(f"extra view {name!r} does not build: {exc}") from exc
        con.execute("CHECKPOINT")
    finally:
        con.close()


def open_catalog(lake: str) -> duckdb.DuckDBPyConnection:
    """A connection to the lake's catalog, read-only, with s3fs registered.

    The catalog is attached to a fresh in-memory DuckDB (and made the default database) rather
    than opened directly: DuckDB reuses an already open database of the same path within a
    process, which would serve a replaced catalog's old snapshot. Parquet metadata caching is on,
    which is safe because the views read immutable files.
    """
    path = catalog_path(lake)
    if storage.is_s3(path):
        path = _download(path)
    elif not os.path.exists(path):
        raise lake_io.LakeError(f"no catalog at {path}: build it with build_catalog({lake!r})")
    con = duck.connect()
    try:
        con.execute(f"ATTACH $path AS {ATTACH_NAME} (READ_ONLY)", {"path": path})
        con.execute(f"USE {ATTACH_NAME}")
        con.execute("SET parquet_metadata_cache = true")
    except duckdb.Error:
        con.close()
        raise
    return con


def _download(url: str) -> str:
    """A local copy of an S3 catalog, one file per ETag (never rewritten once complete)."""
    fs = storage.filesystem(url)
    key = storage.strip_protocol(url)
    try:
        info = fs.info(key)
    except FileNotFoundError:
        raise lake_io.LakeError(f"no catalog at {url}: build it with build_catalog on the lake") from None
    etag = str(info.get("ETag") or "").strip('"')
    # Without an ETag there is no identity to cache by: a unique name forces a fresh download.
    identity = f"{etag}|{info.get('size')}|{info.get('LastModified')}" if etag else secrets.token_hex(8)
    folder = os.path.join(tempfile.gettempdir(), "curlake-catalog", hashlib.sha256(url.encode()).hexdigest()[:16])
    os.makedirs(folder, exist_ok=True)
    local = os.path.join(folder, f"catalog-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.duckdb")
    if not os.path.exists(local):
        tmp = f"{local}.{secrets.token_hex(4)}.part"
        try:
            fs.get_file(key, tmp)
            os.replace(tmp, local)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    # Older copies: unlinking is safe even for one still open (POSIX keeps it until closed).
    for name in os.listdir(folder):
        other = os.path.join(folder, name)
        with contextlib.suppress(FileNotFoundError):
            if other != local and time.time() - os.path.getmtime(other) > _CACHE_TTL_SECONDS:
                os.unlink(other)
    return local
