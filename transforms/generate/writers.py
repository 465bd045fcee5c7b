"""Format writers: CUR 2.0 Parquet, CUR 2.0 gzip CSV and legacy CUR Athena Parquet.

A writer receives the row batches of one billing period and streams them to one or more files
(a new file once a file holds ``ROWS_PER_FILE`` rows), through fsspec so that ``out`` may be a
local directory or ``s3://bucket/prefix``. Output is byte-for-byte reproducible: no wall-clock
time goes into a file (gzip headers carry mtime 0; Parquet carries no creation time).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from transforms import periods, storage
from transforms.generate.cur2_schema import (
    CUR2_GLUE_TYPES, CUR2_NAMES, CUR2_SCHEMA, LEGACY_BASE_COLUMNS, athena_name,
)
from transforms.generate.encoding import dict_column, discount_json, discount_map
from transforms.generate.rows import MonthRows, RowBatch

ROWS_PER_FILE = 4_000_000
DICTIONARY_PAGE_LIMIT = 16 << 20
# gzip spends most of a CSV export's time; level 1 is ~3x faster than 6 for ~25 % more bytes.
GZIP_LEVEL = 1
# Per-value statistics on strings are costly to compute; keep them where readers prune on them.
STATISTICS_COLUMNS: tuple[str, ...] = (
    "bill_billing_period_start_date", "bill_payer_account_id", "line_item_usage_start_date",
    "line_item_usage_end_date", "line_item_usage_account_id", "line_item_product_code",
    "line_item_line_item_type",
)
# High-cardinality strings are built as plain arrays; every other string column is dictionary-coded.
PLAIN_STRINGS = frozenset({"identity_line_item_id", "line_item_resource_id"})
_DICT = pa.dictionary(pa.int32(), pa.string())


@dataclass(frozen=True)
class GeneratedFile:
    """A data file written: local path or s3:// URL, its billing period, rows and size."""

    path: str
    billing_period: str
    rows: int
    bytes: int


def _dictionary_type(field: pa.Field) -> pa.Field:
    """The in-memory type of a column as the row builder codes it (Parquet stores plain types)."""
    if field.type == pa.string() and field.name not in PLAIN_STRINGS:
        return pa.field(field.name, _DICT)
    if pa.types.is_map(field.type):
        items = _DICT if field.type.item_type == pa.string() else field.type.item_type
        return pa.field(field.name, pa.map_(_DICT, items))
    return field


def _dictionary_paths(schema: pa.Schema) -> list[str]:
    """Parquet leaf columns worth dictionary encoding: strings and map keys/values.

    Costs and usage amounts are nearly all distinct: trying a dictionary on them only to fall
    back to plain encoding costs time and bytes.
    """
    paths = []
    for f in schema:
        if pa.types.is_map(f.type):
            paths.append(f"{f.name}.key_value.key")
            if not pa.types.is_floating(f.type.item_type):
                paths.append(f"{f.name}.key_value.value")
        elif pa.types.is_dictionary(f.type) or f.type == pa.string():
            paths.append(f.name)
    return paths


def _parquet_writer(sink, schema: pa.Schema) -> pq.ParquetWriter:
    # A row group of a 100M-row month holds ~150k resources: their line item and resource ids
    # need a dictionary page above the 1 MB default, else they fall back to plain (53 bytes a
    # row instead of 16). No Arrow schema is stored: readers see plain strings, not dictionaries.
    return pq.ParquetWriter(
        sink, schema, compression="snappy", store_schema=False, use_dictionary=_dictionary_paths(schema),
        write_statistics=[c for c in STATISTICS_COLUMNS if c in schema.names], dictionary_pagesize_limit=DICTIONARY_PAGE_LIMIT,
    )


def _coded(array: pa.Array, type_: pa.DataType) -> pa.Array:
    """``array`` as ``type_``: dictionary-encode the plain strings of the charges batch."""
    if array.type == type_:
        return array
    if type_ == _DICT:
        return array.dictionary_encode()
    return array.cast(type_)


def _empty_maps(n: int) -> pa.MapArray:
    empty = pa.array([], _DICT)
    return pa.MapArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), empty, empty)


class MonthWriter(ABC):
    """Writes one billing period of one format; ``close`` returns the files written."""

    extension = ""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, name: str, month: MonthRows) -> None:
        self.fs = fs
        self.name = name
        self.month = month
        self.period = month.plan.period
        self.directory = self.partition(root)
        self.files: list[GeneratedFile] = []
        self._sink = None
        self._path = ""
        self._rows = 0
        _remove_stale(fs, self.directory, name, self.extension)
        if not storage.is_s3(self.directory):
            fs.makedirs(self.directory, exist_ok=True)

    @abstractmethod
    def partition(self, root: str) -> str: ...

    @abstractmethod
    def _open(self, sink) -> None: ...

    @abstractmethod
    def _write(self, batch: RowBatch) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    def write(self, batch: RowBatch) -> None:
        if self._sink is not None and self._rows >= ROWS_PER_FILE:
            self._finish()
        if self._sink is None:
            self._path = storage.join(self.directory, f"{self.name}-{len(self.files) + 1:05d}{self.extension}")
            self._sink = self.fs.open(storage.strip_protocol(self._path), "wb")
            self._open(self._sink)
        self._write(batch)
        self._rows += batch.rows

    def _finish(self) -> None:
        self._close()
        self._sink.close()
        target = storage.strip_protocol(self._path)
        self.files.append(GeneratedFile(self._path, self.period, self._rows, int(self.fs.size(target))))
        self._sink, self._rows = None, 0

    def close(self) -> list[GeneratedFile]:
        if self._sink is not None:
            self._finish()
        return self.files


class Cur2ParquetWriter(MonthWriter):
    extension = ".snappy.parquet"

    def partition(self, root: str) -> str:
        return storage.join(root, self.name, "data", f"BILLING_PERIOD={self.period}")

    def _open(self, sink) -> None:
        self.schema = pa.schema([_dictionary_type(f) for f in CUR2_SCHEMA])
        self._writer = _parquet_writer(sink, self.schema)

    def _write(self, batch: RowBatch) -> None:
        maps = self.month.tag_sets, self.month.product_sets, self.month.cost_category_sets
        arrays = []
        for field in self.schema:
            name = field.name
            if name == "resource_tags":
                arrays.append(maps[0].map_array(batch.tags))
            elif name == "product":
                arrays.append(maps[1].map_array(batch.product))
            elif name == "cost_category":
                arrays.append(maps[2].map_array(batch.cost_category))
            elif name == "discount":
                arrays.append(discount_map(batch.discount))
            elif name == "tags":
                arrays.append(_empty_maps(batch.rows))
            else:
                arrays.append(_coded(batch.columns[name], field.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))

    def _close(self) -> None:
        self._writer.close()


class Cur2CsvWriter(MonthWriter):
    """gzip CSV as a CUR 2.0 CSV export writes it: maps as JSON text, ISO-8601 UTC timestamps."""

    extension = ".csv.gz"

    def partition(self, root: str) -> str:
        return storage.join(root, self.name, "data", f"BILLING_PERIOD={self.period}")

    def _open(self, sink) -> None:
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=sink, mtime=0, compresslevel=GZIP_LEVEL)
        self._header = True

    def _write(self, batch: RowBatch) -> None:
        month = self.month
        arrays = []
        for field in CUR2_SCHEMA:
            name = field.name
            if name == "resource_tags":
                arrays.append(month.tag_sets.json_array(batch.tags))
            elif name == "product":
                arrays.append(month.product_sets.json_array(batch.product))
            elif name == "cost_category":
                arrays.append(month.cost_category_sets.json_array(batch.cost_category))
            elif name == "discount":
                arrays.append(discount_json(batch.discount))
            elif name == "tags":
                arrays.append(dict_column(np.zeros(batch.rows, np.int32), pa.array(["{}"])))
            elif pa.types.is_timestamp(field.type):
                # A month has few distinct instants: format each once.
                coded = batch.columns[name].dictionary_encode()
                text = pa.array([t.strftime("%Y-%m-%dT%H:%M:%S.000Z") for t in coded.dictionary.to_pylist()], pa.string())
                arrays.append(pa.DictionaryArray.from_arrays(coded.indices, text))
            else:
                arrays.append(batch.columns[name])
        table = pa.Table.from_arrays(arrays, names=list(CUR2_NAMES))
        pcsv.write_csv(table, self._gzip, write_options=pcsv.WriteOptions(include_header=self._header))
        self._header = False

    def _close(self) -> None:
        self._gzip.close()


class LegacyParquetWriter(MonthWriter):
    """Legacy CUR, Athena integration: one column per tag key, product attribute and cost category.

    The column set is the month's: tag keys and product attributes in use that month. Tag keys
    that differ only in case (``user_team`` and ``user_Team``) share one Athena column.
    """

    extension = ".snappy.parquet"

    def partition(self, root: str) -> str:
        first = periods.first_day(self.period)
        return storage.join(root, self.name, self.name, f"year={first.year}", f"month={first.month}")

    def _open(self, sink) -> None:
        month = self.month
        self.tag_columns = _group_keys("resource_tags_", month.tag_sets.keys())
        self.product_columns = _group_keys("product_", month.product_sets.keys())
        self.cost_category_columns = _group_keys("cost_category_", month.cost_category_sets.keys())
        base = {f.name: _dictionary_type(f) for f in CUR2_SCHEMA}
        fields = [base[n] for n in LEGACY_BASE_COLUMNS]
        fields += [pa.field(c, _DICT) for c in (*self.tag_columns, *self.product_columns, *self.cost_category_columns)]
        fields.append(pa.field("discount_edp_discount", pa.float64()))
        self.schema = pa.schema(fields)
        self._lookups = {
            **{c: (month.tag_sets.column(keys), "tags") for c, keys in self.tag_columns.items()},
            **{c: (month.product_sets.column(keys), "product") for c, keys in self.product_columns.items()},
            **{c: (month.cost_category_sets.column(keys), "cost_category") for c, keys in self.cost_category_columns.items()},
        }
        self._writer = _parquet_writer(sink, self.schema)

    def _write(self, batch: RowBatch) -> None:
        arrays = []
        for field in self.schema:
            name = field.name
            if name in self._lookups:
                (codes, vocab), attr = self._lookups[name]
                arrays.append(dict_column(codes[getattr(batch, attr)], vocab))
            elif name == "discount_edp_discount":
                arrays.append(pa.array(batch.discount, mask=batch.discount == 0))
            else:
                arrays.append(_coded(batch.columns[name], field.type))
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self._writer.write_table(table, row_group_size=max(1, table.num_rows))

    def _close(self) -> None:
        self._writer.close()


def _group_keys(prefix: str, keys: list[str]) -> dict[str, list[str]]:
    """Athena column name -> the map keys that land in it (several when keys differ in case)."""
    out: dict[str, list[str]] = {}
    for key in keys:
        out.setdefault(prefix + athena_name(key), []).append(key)
    return dict(sorted(out.items()))


WRITERS: dict[str, type[MonthWriter]] = {
    "cur2-parquet": Cur2ParquetWriter,
    "cur2-csv": Cur2CsvWriter,
    "legacy-parquet": LegacyParquetWriter,
}


def _remove_stale(fs: fsspec.AbstractFileSystem, directory: str, name: str, extension: str) -> None:
    """Delete earlier data files of this partition (a re-delivery overwrites the whole period)."""
    target = storage.strip_protocol(directory)
    if not fs.exists(target):
        return
    pattern = re.compile(rf"^{re.escape(name)}-\d{{5}}{re.escape(extension)}$")
    for path in fs.ls(target, detail=False):
        if pattern.match(os.path.basename(path.rstrip("/"))):
            fs.rm(path)


def write_manifest(fs: fsspec.AbstractFileSystem, root: str, name: str, period: str, files: list[GeneratedFile],
                   fmt: str, delivery: str) -> str:
    """The CUR 2.0 Data Exports manifest of a delivery: its execution id, period and data files.

    ``delivery`` names everything the content depends on: its hash is the execution id, so a
    re-generation with other arguments is a new delivery and the same arguments the same one.
    """
    path = storage.join(root, name, "metadata", f"BILLING_PERIOD={period}", f"{name}-Manifest.json")
    execution = str(uuid.uuid5(uuid.NAMESPACE_URL, f"curlake-generate|{name}|{period}|{fmt}|{delivery}"))
    export = uuid.uuid5(uuid.NAMESPACE_URL, f"curlake-export|{name}")
    first = periods.first_day(period)
    nxt = periods.first_day(periods.next_period(period))
    manifest = {
        "executionId": execution,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:111111111111:export/{name}-{export}",
        "exportName": name,
        "billingPeriod": {"start": f"{first.isoformat()}T00:00:00.000Z", "end": f"{nxt.isoformat()}T00:00:00.000Z"},
        "dataFormat": "PARQUET" if fmt.endswith("parquet") else "TEXT_OR_CSV",
        "compression": "PARQUET" if fmt.endswith("parquet") else "GZIP",
        "columns": [{"name": n, "type": CUR2_GLUE_TYPES[n]} for n in CUR2_NAMES],
        "dataFiles": [_url(f.path) for f in files],
    }
    write_bytes(fs, path, json.dumps(manifest, indent=2).encode())
    return path


def write_bytes(fs: fsspec.AbstractFileSystem, path: str, data: bytes) -> None:
    """Write a small file (manifest, CSV, JSON) at a local path or s3:// URL."""
    target = storage.strip_protocol(path)
    if not storage.is_s3(path):
        fs.makedirs(os.path.dirname(path), exist_ok=True)
    with fs.open(target, "wb") as fh:
        fh.write(data)


def _url(path: str) -> str:
    return path if storage.is_s3(path) else os.path.abspath(path)
