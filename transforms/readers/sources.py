"""How DuckDB opens each kind of source file: one place, so discovery and reading agree.

Parameters are bound (``$files``: a list of paths or URLs); nothing from the data is formatted
into the SQL. CSV is read as text (``all_varchar``) so that account ids keep their leading zeros
and costs are parsed exactly to DECIMAL, never through a float.
"""

from __future__ import annotations

import csv
import io

from transforms import storage
from transforms.readers.errors import IngestError

# Column DuckDB adds with the path of the file each row comes from.
SOURCE_FILE_COLUMN = "__source_file"

_OPTIONS = {
    "parquet": ["hive_partitioning := false"],
    "csv": ["hive_partitioning := false", "header := true", "all_varchar := true", "delim := ','", "quote := '\"'", "escape := '\"'"],
}


def reader_sql(kind: str, *, provenance: bool = False) -> str:
    """``read_parquet($files, ...)`` or ``read_csv($files, ...)``.

    ``provenance`` unions columns by name across files (schemas drift between files and months)
    and adds the source file path, plus ``file_row_number`` for Parquet (CSV has none in DuckDB).
    """
    if kind not in _OPTIONS:
        raise ValueError(f"unknown file kind {kind!r}; expected one of {sorted(_OPTIONS)}")
    options = list(_OPTIONS[kind])
    if provenance:
        options += ["union_by_name := true", f"filename := '{SOURCE_FILE_COLUMN}'"]
        if kind == "parquet":
            options.append("file_row_number := true")
    function = "read_parquet" if kind == "parquet" else "read_csv"
    return f"{function}($files, {', '.join(options)})"


def csv_header(path: str) -> list[str]:
    """The header line of a CSV (gzip or plain) exactly as written.

    DuckDB renames headers that differ only by case (``user:Team``, ``user:team`` ->
    ``user:team_1``); tag keys must keep the spelling the file has. Only the header's bytes are
    decoded, so a byte that is not UTF-8 further down is left to the reader, which names its line.
    """
    fs = storage.filesystem(path)
    with fs.open(storage.strip_protocol(path), "rb", compression="infer") as fh:
        raw = fh.readline()
        while raw.count(b'"') % 2 and (more := fh.readline()):  # a quoted header name spanning lines
            raw += more
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: line 1 (the header) is not UTF-8: byte 0x{raw[exc.start]:02x} at byte {exc.start + 1}") from exc
    return next(csv.reader(io.StringIO(text, newline="")), [])
