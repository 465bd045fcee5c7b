"""Every curated table of a materialized sample lake reads back the same in DuckDB, polars and
pyarrow: same rows, same totals of every numeric column (the Parquet contract for BI tools)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import polars as pl
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

from transforms import lake as lake_io


def _numeric_columns(schema: pl.Schema) -> list[str]:
    return [name for name, dtype in schema.items() if dtype.is_numeric() and name != "billing_period"]


def test_every_table_reads_back_equal_in_three_readers(materialized_sample_lake):
    lake = materialized_sample_lake.lake
    tables = lake_io.list_tables(lake)
    assert {"cost_line_items", "cost_allocation", "unit_economics", "credit_score", "focus_1_2"} <= set(tables)
    con = duckdb.connect()
    for table in tables:
        glob = lake_io.partition_glob(lake, table)
        frame = pl.scan_parquet(glob, hive_partitioning=True)
        schema = frame.collect_schema()
        numeric = _numeric_columns(schema)
        pl_row = frame.select(pl.len().alias("rows"), *[pl.col(c).cast(pl.Float64).sum().alias(c) for c in numeric]).collect().row(0, named=True)

        dataset = ds.dataset(f"{lake}/{table}", format="parquet", partitioning="hive")
        arrow = dataset.to_table(columns=numeric) if numeric else dataset.to_table()
        assert arrow.num_rows == pl_row["rows"], table

        select = ", ".join([f'sum(CAST("{c}" AS DOUBLE))' for c in numeric] or ["NULL"])
        duck = con.execute(f"SELECT count(*), {select} FROM read_parquet($g, hive_partitioning = true)", {"g": glob}).fetchone()
        assert duck[0] == pl_row["rows"], table
        for i, column in enumerate(numeric, start=1):
            arrow_sum = pc.sum(pc.cast(arrow[column], "float64")).as_py() or 0.0
            expected = pl_row[column] or 0.0
            assert (duck[i] or 0.0) == pytest.approx(expected, rel=1e-12, abs=1e-9), (table, column)
            assert arrow_sum == pytest.approx(expected, rel=1e-12, abs=1e-9), (table, column)
        if table == "cost_line_items":
            assert pl_row["rows"] > 0 and Decimal(str(pl_row["amortized_cost"])) > 0
