"""Reading the allocation SQL files and composing them, with values bound and identifiers quoted.

The SQL of each curated table lives in ``sql/<table>/``. A file may hold markers ``/*@name*/``
that this module replaces with text it builds itself: a quoted table name, or a fragment from
transforms.allocation.fragments made only of fixed SQL and ``$parameter`` placeholders. Config
values therefore never become SQL text; they are bound.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"

_MARKER = re.compile(r"/\*@([a-z_]+)\*/")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


def read(table: str, name: str) -> str:
    """The text of ``sql/<table>/<name>.sql``."""
    return (SQL_DIR / table / f"{name}.sql").read_text(encoding="utf-8")


def quote_ident(name: str) -> str:
    """A table or view name, possibly schema-qualified (``lake.cost_line_items``), as quoted SQL identifiers."""
    parts = name.split(".")
    if not name or any(not p.strip() for p in parts):
        raise ValueError(f"invalid table name {name!r}: expected 'table' or 'schema.table'")
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def fill(text: str, fragments: Mapping[str, str]) -> str:
    """Replace every ``/*@name*/`` marker; a marker without a fragment (or a fragment without a marker) is a bug."""
    if len(_MARKER.findall(_COMMENT.sub("", text))) != len(_MARKER.findall(text)):
        raise ValueError("a /*@marker*/ inside a -- comment would swallow the fragment's first line")
    found = set(_MARKER.findall(text))
    missing, unused = found - set(fragments), set(fragments) - found
    if missing or unused:
        raise KeyError(f"SQL markers without fragments: {sorted(missing)}; fragments without markers: {sorted(unused)}")
    return _MARKER.sub(lambda m: fragments[m.group(1)], text)


def used_params(text: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters ``text`` refers to (DuckDB refuses unused ones); a missing one is a bug."""
    names = set(_PARAM.findall(_COMMENT.sub("", text)))
    missing = names - set(params)
    if missing:
        raise KeyError(f"SQL parameters without values: {sorted(missing)}")
    return {name: params[name] for name in names}


def relation(con: duckdb.DuckDBPyConnection, text: str, params: Mapping[str, Any]) -> duckdb.DuckDBPyRelation:
    """A lazy relation over ``text`` with its parameters bound: nothing runs until it is read or written."""
    rel = con.sql(text, params=used_params(text, params) or None)
    if rel is None:  # only a SELECT gives a relation; our files hold nothing else
        raise ValueError("allocation SQL must be a single SELECT")
    return rel


def source(con: duckdb.DuckDBPyConnection, table_or_relation: str | duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """A relation for a curated table given by name or as a relation (what the builders return)."""
    if isinstance(table_or_relation, str):
        return con.sql(f"SELECT * FROM {quote_ident(table_or_relation)}")
    return table_or_relation
