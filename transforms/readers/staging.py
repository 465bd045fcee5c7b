"""Conform the files of one delivery to the input columns of ``transforms.readers.columns``.

Which columns exist, under which names and with which types, is only known from the files
(legacy CUR has one column per tag, columns drift between months, CSV is all text, a Parquet
writer may use TIMESTAMP WITH TIME ZONE). This module reads the schemas (file footers and CSV
headers only, never the rows) and builds the first SELECT of the ingestion query:

- every input column present, cast to its kind's type: costs to DECIMAL(18,10) exactly (text is
  parsed as decimal, never through a float), timestamps to UTC without time zone, JSON text maps
  of CUR 2.0 CSV to MAP; a value that does not convert raises ``IngestError: <file>: column ...``
  through DuckDB's ``error()`` while the rows stream;
- every input column absent, NULL; a *required* column absent, or a column of a type that
  cannot be conformed (a BOOLEAN cost), is an IngestError naming the file and column, raised here;
- ``tags`` (keys normalized by ``transforms.tags.normalize_key``) and ``cost_category``, for
  every format from keys known before the rows stream: legacy CUR has one column per key, and
  for CUR 2.0 the distinct keys of the month's ``resource_tags`` and ``cost_category`` maps are
  found first by one pass over those two columns (``_map_keys``). Each key is then normalized
  once in Python instead of once per row and entry in SQL: the per-row list sort and lambdas
  that did it cost 85% of CUR 2.0 ingestion time (see BENCHMARKS.md). Keys are bound as
  parameters and column names quoted (``_map_of_values``);
- ``source_file`` and ``source_row`` for messages and lineage.

Identifiers from the files are quoted with ``quote_identifier``; the only values in the text are
column names inside messages, written with ``quote_literal``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import duckdb

from transforms.readers.columns import (
    CUR2_MAP_COLUMNS,
    INPUT_COLUMNS,
    KIND_TYPES,
    LEGACY_COST_CATEGORY_PREFIX,
    LEGACY_PRODUCT_COLUMNS,
    LEGACY_TAG_PREFIX,
    InputColumn,
    athena_name,
    legacy_csv_header,
)
from transforms.readers.errors import MARKER, IngestError, ingest_errors, read_problem, reason
from transforms.readers.sources import SOURCE_FILE_COLUMN, csv_header, reader_sql
from transforms.sqlrunner import quote_identifier as ident
from transforms.sqlrunner import quote_literal as literal
from transforms.tags import normalize_key

if TYPE_CHECKING:
    from transforms.discover import Delivery, SourceFile

_NUMERIC = re.compile(r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|FLOAT|DOUBLE|REAL|DECIMAL\(\d+,\s*\d+\))$")
_TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"}
_EMPTY_MAP = "CAST(MAP {} AS MAP(VARCHAR, VARCHAR))"


def staged_query(con: duckdb.DuckDBPyConnection, delivery: Delivery) -> tuple[str, dict]:
    """The conforming SELECT over the delivery's files and its bound parameters."""
    kind = "parquet" if delivery.format.endswith("parquet") else "csv"
    legacy = delivery.format.startswith("legacy")
    files = delivery.files
    if not files:
        raise IngestError(f"delivery {delivery.delivery_id} of {delivery.billing_period} has no data files")
    union, per_file = _schemas(con, kind, files)
    spelled = _spellings(files, per_file) if kind == "csv" else {c: c for c in union}

    wanted = INPUT_COLUMNS + (LEGACY_PRODUCT_COLUMNS if legacy else CUR2_MAP_COLUMNS)
    wanted_names = {col.name for col in wanted}

    def names(columns: Sequence[str], where: str) -> dict[str, str]:
        """Input-column name -> source column name, for one file or for the union."""
        if not legacy:
            return {c: c for c in columns if c in wanted_names}
        out: dict[str, str] = {}
        for c in columns:
            key = athena_name(spelled[c])
            if key not in wanted_names:
                continue
            if key in out:
                raise IngestError(f"{where}: columns {out[key]!r} and {c!r} both mean {key}")
            out[key] = c
        return out

    for f in files:
        present = names(list(per_file[f.path]), f.path)
        for col in wanted:
            if col.name in present:
                type_ = per_file[f.path][present[col.name]]
                if not _accepts(col.kind, type_):
                    raise IngestError(f"{f.path}: column {present[col.name]} has type {type_}, expected {_EXPECTED[col.kind]}")
            elif col.required:
                shown = legacy_csv_header(col.name) if kind == "csv" and legacy else col.name
                raise IngestError(f"{f.path}: missing required column {shown}")

    source = names(list(union), ", ".join(f.path for f in files))
    row_ref = _row_ref(kind, source.get("identity_line_item_id"))
    params: dict[str, object] = {"files": [f.path for f in files]}
    select = []
    for col in wanted:
        if col.name in source:
            src = source[col.name]
            if not _accepts(col.kind, union[src]):
                raise IngestError(
                    f"{', '.join(per_file)}: column {src} unifies across files to type {union[src]}, "
                    f"expected {_EXPECTED[col.kind]}"
                )
            expr = _conform(col, src, union[src], row_ref)
        else:
            expr = f"CAST(NULL AS {KIND_TYPES[col.kind]})"
        # A NULL map needs no empty-map default: maps are only read by key (product['region'],
        # _cur2_maps), which gives NULL either way, and copying every map cost a tenth of ingestion.
        select.append(f"{expr} AS {ident(col.name)}")
    if legacy:
        for target, prefix, normalize in (
            ("tags", LEGACY_TAG_PREFIX, normalize_key),
            ("cost_category", LEGACY_COST_CATEGORY_PREFIX, str),
        ):
            values = [(_raw_key(spelled[c], prefix), f"NULLIF(CAST({ident(c)} AS VARCHAR), '')")
                      for c in union if athena_name(spelled[c]).startswith(prefix)]
            select.append(f"{_map_of_values(values, normalize, f'{target}_keys', params)} AS {target}")
    select.append(f"{ident(SOURCE_FILE_COLUMN)} AS source_file")
    select.append(f"{row_ref} AS source_row")
    sql = "SELECT\n    " + ",\n    ".join(select) + f"\nFROM {reader_sql(kind, provenance=True)}"
    if not legacy:
        sql = _cur2_maps(con, sql, params)
    return sql, params


def _schemas(con: duckdb.DuckDBPyConnection, kind: str, files: Sequence[SourceFile]) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Union schema and each file's schema (name -> DuckDB type); an unreadable file is named.

    Each file is described on its own so that a corrupt one is named. CSV is all VARCHAR, so its
    union is the merged names; Parquet types are unified by DuckDB as its scan will (footers only).
    """
    per_file: dict[str, dict[str, str]] = {}
    for f in files:
        if f.size == 0:
            raise IngestError(f"{f.path}: empty file (0 bytes)")
        per_file[f.path] = _describe(con, kind, [f.path], where=f.path)
    if kind == "csv" or len(files) == 1:
        union = {name: type_ for schema in per_file.values() for name, type_ in schema.items()}
    else:
        union = _describe(con, kind, [f.path for f in files], where=", ".join(per_file))
    if not union:
        raise IngestError(f"{files[0].path}: no columns: empty or not a {kind} file")
    return union, per_file


def _spellings(files: Sequence[SourceFile], per_file: dict[str, dict[str, str]]) -> dict[str, str]:
    """DuckDB's name of each CSV column -> the header as the files spell it."""
    out: dict[str, str] = {}
    for f in files:
        header = csv_header(f.path)
        if len(header) != len(per_file[f.path]):
            raise IngestError(f"{f.path}: header has {len(header)} columns but DuckDB reads {len(per_file[f.path])}")
        for duck_name, written in zip(list(per_file[f.path]), header):
            if out.setdefault(duck_name, written) != written:
                raise IngestError(f"{f.path}: column {written!r} is read as {duck_name!r}, which another file uses for {out[duck_name]!r}")
    return out


def _describe(con: duckdb.DuckDBPyConnection, kind: str, paths: list[str], *, where: str) -> dict[str, str]:
    """Column name -> DuckDB type, as the provenance reader sees the files (without its own columns)."""
    try:
        rows = con.sql(f"DESCRIBE SELECT * EXCLUDE ({ident(SOURCE_FILE_COLUMN)}{', file_row_number' if kind == 'parquet' else ''}) "
                       f"FROM {reader_sql(kind, provenance=True)}", params={"files": paths}).fetchall()
    except duckdb.Error as exc:
        problem = read_problem(exc) or "unreadable or corrupt file"
        raise IngestError(f"{where}: {problem.replace('file', kind + ' file')}: {reason(exc)}") from exc
    return {name: type_ for name, type_, *_ in rows}


def _cur2_maps(con: duckdb.DuckDBPyConnection, conformed: str, params: dict) -> str:
    """CUR 2.0: ``resource_tags`` -> normalized ``tags``, ``cost_category`` without empty values.

    The maps' keys vary per row but a month holds only dozens of distinct ones, so they are
    listed first (``_map_keys``) and each output key becomes one lookup: the same
    ``_map_of_values`` as legacy columns, with ``resource_tags[$key]`` in place of a column.
    """
    tag_keys, category_keys = _map_keys(con, conformed, params)
    maps = []
    for source, keys, normalize, param in (
        ("resource_tags", tag_keys, normalize_key, "tag"),
        ("cost_category", category_keys, str, "cost_category"),
    ):
        values = []
        for i, raw in enumerate(k for k in keys if normalize(k)):  # a key normalized away is never read
            params[f"{param}_raw_{i}"] = raw
            values.append((raw, f"NULLIF({source}[${param}_raw_{i}], '')"))
        maps.append(_map_of_values(values, normalize, f"{param}_keys", params))
    tags, categories = maps
    return (
        f"SELECT * EXCLUDE (resource_tags, cost_category), {tags} AS tags, {categories} AS cost_category\n"
        f"FROM (\n{conformed}\n)"
    )


def _map_keys(con: duckdb.DuckDBPyConnection, conformed: str, params: dict) -> tuple[list[str], list[str]]:
    """Distinct keys of the delivery's ``resource_tags`` and ``cost_category`` maps, sorted.

    One pass reading only those two columns (DuckDB prunes the others). A value that is not a
    map (CUR 2.0 CSV JSON text) raises here, as an IngestError naming file and row.
    """
    # DISTINCT over the unnested keys streams as a small hash aggregate (a few dozen keys); a
    # list() of every row's keys would hold the whole month in memory (100M rows: out of memory).
    # The two unnests run side by side, so each output row pairs a tag key with a category key
    # (or NULL): still only as many distinct pairs as there are keys.
    sql = (
        "SELECT DISTINCT unnest(map_keys(resource_tags)) AS tag_key, unnest(map_keys(cost_category)) AS category_key "
        f"FROM (\n{conformed}\n)"
    )
    with ingest_errors():
        pairs = con.execute(sql, params).fetchall()
    tags = sorted({t for t, _ in pairs if t is not None})
    categories = sorted({c for _, c in pairs if c is not None})
    return tags, categories


def _map_of_values(values: list[tuple[str, str]], normalize: Callable[[str], str], param: str, params: dict) -> str:
    """MAP from one value expression per raw key (legacy columns, CUR 2.0 map lookups), empty values left out.

    The keys are known before the rows stream, so they are normalized here, once, rather than
    per row: raw keys sharing a normalized key become one ``coalesce`` in sorted raw-key order,
    which is the "first non-empty value wins" rule of transforms.tags. Each value expression
    must give NULL for an absent or empty value. Keys are bound as ``$param``.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for raw, value in values:
        key = normalize(raw)
        if key:
            groups.setdefault(key, []).append((raw, value))
    if not groups:
        return _EMPTY_MAP
    keys = sorted(groups)
    params[param] = keys
    exprs = []
    for key in keys:
        parts = [value for _, value in sorted(groups[key])]
        exprs.append(parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})")
    return f"map_from_entries(list_filter(list_zip(${param}, [{', '.join(exprs)}]), lambda e: e[2] IS NOT NULL))"


def _raw_key(column: str, prefix: str) -> str:
    """Tag key as the source spells it: 'resourceTags/user:Team' -> 'user:Team', 'resource_tags_user_team' -> 'user_team'."""
    if "/" in column:
        return column.split("/", 1)[1]
    return column[len(prefix):]


def _row_ref(kind: str, id_column: str | None) -> str:
    """SQL text naming the current row in messages: Parquet row number, else the line item id."""
    if kind == "parquet":
        return "'row ' || CAST(file_row_number + 1 AS VARCHAR)"
    if id_column is not None:
        return f"'line item ' || coalesce({ident(id_column)}, '(no id)')"
    return "'a row without line item id'"


def _fail(column: str, value_sql: str, problem: str, row_ref: str) -> str:
    """error() call raising 'IngestError: <file>: column <c> value <v> <problem> (<row>)'."""
    return (
        f"error({literal(MARKER)} || {ident(SOURCE_FILE_COLUMN)} || {literal(': column ' + column + ' value ')} || "
        f"CAST({value_sql} AS VARCHAR) || {literal(' ' + problem + ' (')} || {row_ref} || ')')"
    )


def _checked(column: str, raw: str, parsed: str, problem: str, row_ref: str) -> str:
    """``parsed``, or an error when ``raw`` is set but does not parse."""
    return f"CASE WHEN {raw} IS NOT NULL AND {parsed} IS NULL THEN {_fail(column, raw, problem, row_ref)} ELSE {parsed} END"


_EXPECTED = {
    "text": "text", "account": "text or an integer", "double": "a number", "money": "a number",
    "timestamp": "a timestamp or text", "map": "a map or JSON text",
}


def _accepts(kind: str, type_: str) -> bool:
    """Whether a source column of DuckDB type ``type_`` can be conformed to ``kind``."""
    if type_ == "VARCHAR" or kind == "text":
        return True
    if kind in ("account", "double", "money"):
        return bool(_NUMERIC.match(type_)) and (kind != "account" or "INT" in type_)
    if kind == "timestamp":
        return type_ in _TIMESTAMPS or type_ == "TIMESTAMP WITH TIME ZONE"
    return kind == "map" and type_.startswith("MAP(")


def _conform(col: InputColumn, source: str, type_: str, row_ref: str) -> str:
    """SQL converting source column ``source`` of DuckDB type ``type_`` (``_accepts``-checked) to ``col``'s kind."""
    c = ident(source)
    text = type_ == "VARCHAR"
    target = KIND_TYPES[col.kind]
    if col.kind == "text":
        return f"NULLIF({c}, '')" if text else f"NULLIF(CAST({c} AS VARCHAR), '')"
    if col.kind == "account":
        # Account ids have 12 digits; one written as an integer somewhere lost its leading zeros.
        value = f"NULLIF(trim({c}), '')" if text else f"CAST({c} AS VARCHAR)"
        return f"CASE WHEN regexp_full_match({value}, '[0-9]{{1,11}}') THEN lpad({value}, 12, '0') ELSE {value} END"
    if col.kind in ("money", "double"):
        raw = f"NULLIF(trim({c}), '')" if text else c
        if col.kind == "double":
            problem = "is not a number"
        else:
            problem = "is not a number that fits DECIMAL(18,10)" if text else "does not fit DECIMAL(18,10)"
        return _checked(source, raw, f"TRY_CAST({raw} AS {target})", problem, row_ref)
    if col.kind == "timestamp":
        if type_ == "TIMESTAMP":
            return c
        if type_ in _TIMESTAMPS:
            return f"CAST({c} AS TIMESTAMP)"
        if type_ == "TIMESTAMP WITH TIME ZONE":
            return f"timezone('UTC', {c})"
        raw = f"NULLIF(trim({c}), '')"
        # CUR writes '2025-01-01T00:00:00.000Z'; an explicit offset is honoured, none means UTC.
        parsed = (
            f"CASE WHEN {raw} LIKE '%Z' THEN TRY_CAST(rtrim({raw}, 'Z') AS TIMESTAMP) "
            f"WHEN regexp_matches({raw}, '[+-][0-9][0-9]:?[0-9][0-9]$') THEN timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ)) "
            f"ELSE TRY_CAST({raw} AS TIMESTAMP) END"
        )
        return _checked(source, raw, parsed, "is not a timestamp", row_ref)
    if col.kind == "map":
        if type_ == target:
            return c
        if type_.startswith("MAP("):
            return f"CAST({c} AS {target})"
        raw = f"NULLIF(NULLIF(trim({c}), ''), 'null')"
        return _checked(source, raw, f"TRY_CAST(TRY_CAST({raw} AS JSON) AS {target})", "is not a JSON object", row_ref)
    raise ValueError(f"unknown column kind {col.kind!r}")
