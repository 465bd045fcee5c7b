"""DuckDB connections configured for curlake: bounded memory, spilling, s3fs for ``s3://``."""

from __future__ import annotations

import os
import tempfile

import duckdb

from transforms import storage

DEFAULT_MEMORY_LIMIT = os.environ.get("CURLAKE_DUCKDB_MEMORY_LIMIT", "4GB")


def connect(
    database: str = ":memory:",
    *,
    read_only: bool = False,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
    s3: bool = True,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a memory limit, a spill directory and s3fs registered.

    DuckDB streams Parquet and spills joins, sorts and aggregates to ``temp_directory`` past
    ``memory_limit``, so a month of 100M line items never has to fit in memory.
    """
    config = {
        "memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT,
        "temp_directory": temp_directory or os.path.join(tempfile.gettempdir(), "curlake-duckdb-spill"),
        "preserve_insertion_order": False,
        # Never download extensions at run time (offline machines, reproducible runs).
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(database, read_only=read_only, config=config)
    # Not a global option in DuckDB 2.0: set per connection (no progress bars in logs).
    con.execute("SET enable_progress_bar = false")
    # A second connect() to the same file in one process returns the same database, which
    # already has the filesystem.
    if s3 and "s3" not in con.list_filesystems():
        con.register_filesystem(storage.filesystem("s3://"))
    return con
