"""sqlrunner: loading SQL files, binding parameters, quoting names that come from data."""

from __future__ import annotations

import duckdb
import pytest

import cur_builders as cb
from transforms import duck
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery
from transforms.sqlrunner import SQL_DIR, load_sql, quote_identifier, quote_literal, run


def test_load_sql_reads_table_step_files():
    assert load_sql("cost_line_items/normalize") == (SQL_DIR / "cost_line_items" / "normalize.sql").read_text()


@pytest.mark.parametrize("name", ["../etc/passwd", "cost_line_items/normalize.sql", "a/b/c", ""])
def test_load_sql_rejects_paths(name):
    with pytest.raises(ValueError, match="must look like 'table' or 'table/step'"):
        load_sql(name)


def test_load_sql_missing_lists_known_files():
    with pytest.raises(FileNotFoundError, match=r"no SQL file .*nope\.sql; known: .*cost_line_items/normalize"):
        load_sql("nope")


def test_run_binds_parameters(tmp_path, monkeypatch):
    (tmp_path / "demo.sql").write_text("SELECT $period AS period, $n + 1 AS next")
    monkeypatch.setattr("transforms.sqlrunner.SQL_DIR", tmp_path)
    con = duck.connect()
    assert run(con, "demo", period="2025-01'; DROP TABLE x; --", n=41).fetchall() == [("2025-01'; DROP TABLE x; --", 42)]
    with pytest.raises(duckdb.Error, match="period"):
        run(con, "demo", n=1).fetchall()


def test_quoting():
    con = duck.connect()
    name = 'we"ird\'name'
    assert con.sql(f"SELECT 1 AS {quote_identifier(name)}").columns == [name]
    assert con.sql(f"SELECT {quote_literal(name)}").fetchall() == [(name,)]


def test_column_names_with_quotes_from_a_file(tmp_path):
    """Headers are data: quotes in them must neither break nor inject into the generated SQL."""
    key = 'user:it\'s "x"'
    row = cb.legacy_csv_row(**{f"resourceTags/{key}": "v", "lineItem/UnblendedCost": "1.5"})
    cb.write_legacy_csv(tmp_path / "cur.csv", [row])
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        ((tags, cost),) = read_delivery(duck.connect(), d).project("tags, unblended_cost").fetchall()
    assert tags == {'it\'s "x"': "v"} and str(cost) == "1.5000000000"
