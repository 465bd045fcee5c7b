"""The SQL of the insight tables: files under ``sql/<table>/``, run with bound parameters only.

Input relations are bound as names and read with DuckDB's ``query_table($name)``, so neither data
nor identifiers are ever formatted into SQL text. A query may be composed with other files as
common table expressions (``WITH forecast AS (<forecast.sql>), <main.sql's own CTEs> SELECT ...``):
the text pasted is our own fixed SQL, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import duckdb

from transforms.sqlrunner import load_sql

_COMMENT = re.compile(r"--[^\n]*")
_LEADING_COMMENTS = re.compile(r"\A(\s*--[^\n]*\n)*\s*")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def load(name: str) -> str:
    """The text of ``sql/<name>.sql`` without trailing semicolons (it is embedded in larger queries)."""
    return load_sql(name).strip().rstrip(";")


def compose(main: str, ctes: Mapping[str, str] | None = None) -> str:
    """``main`` with each of ``ctes`` (CTE name -> SQL name, e.g. ``table/step``) visible to it as a common table expression."""
    text = load(main)
    if not ctes:
        return text
    parts = ",\n".join(f"{name} AS (\n{load(path)}\n)" for name, path in ctes.items())
    # Merge into the main query's own WITH, so that its ORDER BY stays the outermost one.
    body = _LEADING_COMMENTS.sub("", text)
    if body[:4].upper() == "WITH" and body[4:5].isspace():
        return f"WITH {parts},\n{body[5:]}"
    return f"WITH {parts}\n{body}"


def parameters_of(text: str) -> set[str]:
    """Names of the ``$name`` parameters a query uses (comments ignored: they may mention some)."""
    return set(_PARAMETER.findall(_COMMENT.sub("", text)))


def query(
    con: duckdb.DuckDBPyConnection,
    main: str,
    params: Mapping[str, Any],
    ctes: Mapping[str, str] | None = None,
) -> duckdb.DuckDBPyRelation:
    """A lazy relation over ``sql/<main>.sql`` (composed with ``ctes``), binding exactly the parameters it uses.

    DuckDB refuses parameters a statement does not use, so callers may pass a superset; a parameter
    the SQL uses but the caller forgot is a programming error and raises KeyError naming it.
    """
    text = compose(main, ctes)
    used = parameters_of(text)
    missing = sorted(used - params.keys())
    if missing:
        raise KeyError(f"sql/{main}.sql: parameter(s) {', '.join('$' + m for m in missing)} not bound")
    return con.sql(text, params={k: params[k] for k in sorted(used)})
