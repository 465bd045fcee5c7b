"""Naming what a check reads in SQL: a table name or a DuckDB relation, always as a quoted identifier.

Checks are written once as SQL over a name. A relation has no name, so it is registered under a
unique one for the duration of the check and unregistered afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from transforms.sqlrunner import quote_identifier as quote

_COUNTER = itertools.count()

TableOrRelation = str | duckdb.DuckDBPyRelation


def unique_name(prefix: str) -> str:
    return f"{prefix}_{next(_COUNTER)}"


@contextmanager
def sql_name(con: duckdb.DuckDBPyConnection, source: TableOrRelation) -> Iterator[str]:
    """Yield a quoted identifier that names ``source`` (a table or view name, or a relation) in SQL."""
    if isinstance(source, str):
        yield quote(source)
        return
    name = unique_name("curlake_check_source")
    con.register(name, source)
    try:
        yield quote(name)
    finally:
        con.unregister(name)
