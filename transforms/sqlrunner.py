"""Load the project's SQL files and run them with bound parameters.

SQL lives in the repository's top-level ``sql/`` folder, one file or folder per curated table
(``sql/<table>.sql`` or ``sql/<table>/<step>.sql``). Values are always bound as DuckDB
parameters (``$name``), never formatted into the text; the two quoting helpers are for the rare
identifiers that come from data (a column name found in a file) and for fixed message text.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

_NAME = re.compile(r"^[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?$")


def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql``; ``name`` is ``table`` or ``table/step`` (no extension)."""
    if not _NAME.match(name or ""):
        raise ValueError(f"SQL name {name!r} must look like 'table' or 'table/step' (letters, digits, _)")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        known = sorted(str(p.relative_to(SQL_DIR).with_suffix("")) for p in SQL_DIR.rglob("*.sql"))
        raise FileNotFoundError(f"no SQL file {path}; known: {', '.join(known) or '(none)'}")
    return path.read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> duckdb.DuckDBPyRelation:
    """Relation of the SELECT in ``sql/<name>.sql`` with ``params`` bound to its ``$name`` markers.

    Lazy like any relation: nothing runs until it is fetched or written. DuckDB rejects both a
    missing and an unused parameter, so a typo in a parameter name fails loudly.
    """
    return con.sql(load_sql(name), params=params or None)


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier, whatever it contains: ``a"b`` -> ``"a""b"``."""
    if "\0" in name:
        raise ValueError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as a DuckDB string literal: ``it's`` -> ``'it''s'``."""
    if "\0" in value:
        raise ValueError(f"string {value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"
