"""The data dictionary against a freshly materialized sample lake, and the catalog views' loading.

The lake is conftest.py's session fixture `materialized_sample_lake` (shared with
test_analyst_questions.py and test_report.py): two months of a sample bill with every asset
materialized through Dagster.
"""

from __future__ import annotations

import os

import duckdb
import pytest

from transforms import catalog, dictionary, duck, lake, schema


@pytest.fixture(scope="module")
def cat(materialized_sample_lake):
    con = catalog.open_catalog(materialized_sample_lake.lake)
    yield con
    con.close()


def catalog_relations(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database() ORDER BY 1").fetchall()]


# ----------------------------------------------------------------------------------- the sample lake


def test_every_column_of_every_table_and_view_is_documented(cat):
    names = catalog_relations(cat)
    # The lake holds the documented tables (a test that sees none would pass for nothing).
    assert {"cost_line_items", "cost_allocation", "unit_economics", "cost_by_team_month"} <= set(names)
    problems = [msg for name in names for msg in dictionary.check_relation(cat, name)]
    assert problems == []


def test_every_documented_table_is_in_the_sample_lake(cat):
    # A documented table the pipeline no longer builds is stale documentation.
    assert sorted(set(dictionary.TABLES) - set(catalog_relations(cat))) == []


def test_declared_keys_identify_rows(cat):
    nonempty = 0
    for name, doc in dictionary.TABLES.items():
        keys = ", ".join(lake.quote_identifier(k) for k in doc.keys)
        total, distinct = cat.execute(
            f"SELECT count(*), count(DISTINCT ({keys})) FROM {lake.quote_identifier(name)}").fetchone()
        dup = cat.execute(
            f"SELECT count(*) FROM (SELECT {keys} FROM {lake.quote_identifier(name)} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        assert dup == 0, f"{name}: {dup} key values ({keys}) occur more than once in {total} rows"
        nonempty += total > 0
    # Most tables hold rows on the sample (tag_key_variants may legitimately be empty).
    assert nonempty >= len(dictionary.TABLES) - 2


# ----------------------------------------------------------------------------------- registry checks


def test_check_relation_names_each_difference():
    con = duck.connect(s3=False)
    con.execute("CREATE TABLE budgets (team VARCHAR, budget DOUBLE, currency VARCHAR, billing_period VARCHAR, owner VARCHAR)")
    problems = dictionary.check_relation(con, "budgets")
    assert problems == [
        "budgets.owner (VARCHAR) has no description: add it to 'budgets' in transforms/dictionary.py",
        "budgets.service_code is documented but the table has no such column",
        "budgets.budget is DOUBLE but documented as DECIMAL(18,2)",
    ]
    con.execute("CREATE TABLE mystery (x INTEGER)")
    assert dictionary.check_relation(con, "mystery")[0].startswith("'mystery' is not in the data dictionary")


def test_table_doc_for_dagster():
    description, columns = dictionary.table_doc("cost_line_items")
    assert "Grain: one row per line item and usage hour" in description
    assert columns == [(c.name, c.type, c.description) for c in schema.COST_LINE_ITEMS]
    _, budget_cols = dictionary.table_doc("budgets")
    assert [c[0] for c in budget_cols] == ["team", "service_code", "budget", "currency", "billing_period"]
    assert all(desc.strip() for _, _, desc in budget_cols)
    with pytest.raises(dictionary.DictionaryError, match="'nope' is not in the data dictionary.*cost_allocation"):
        dictionary.table_doc("nope")


def test_committed_markdown_is_generated_from_the_registry():
    committed = dictionary.DOCS_PATH.read_text(encoding="utf-8")
    assert committed == dictionary.render_markdown(), "docs/data_dictionary.md is stale: run python -m transforms.dictionary"
    for name, doc in dictionary.TABLES.items():
        assert f"## {name}\n" in committed
        assert all(f"| `{c.name}` |" in committed for c in doc.columns)


def test_generator_checks_the_lake_before_writing(materialized_sample_lake, tmp_path):
    out = tmp_path / "dictionary.md"
    assert dictionary.main(["--check", materialized_sample_lake.lake, "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == dictionary.render_markdown()


# ----------------------------------------------------------------------------------- catalog views


def test_shipped_views_declare_exactly_the_tables_they_read():
    views = dictionary.load_catalog_views()
    assert [v.name for v in views] == ["cost_by_team_month", "top_movers_week_over_week", "unallocated_cost_by_cause"]
    for v in views:
        assert set(v.requires) == duckdb.get_table_names(v.sql), v.path
        assert v.name in dictionary.TABLES, f"{v.name} is not documented"


def test_views_with_absent_inputs_are_left_out(tmp_path):
    (tmp_path / "a_view.sql").write_text("-- requires: costs\nSELECT * FROM costs\n")
    (tmp_path / "b_view.sql").write_text("-- requires: a_view, budgets\nSELECT * FROM a_view, budgets;\n")
    (tmp_path / "c_view.sql").write_text("-- requires: budgets\nSELECT * FROM budgets\n")
    assert list(dictionary.catalog_views(["costs"], tmp_path)) == ["a_view"]
    assert list(dictionary.catalog_views(["budgets"], tmp_path)) == ["c_view"]
    both = dictionary.catalog_views(["costs", "budgets"], tmp_path)
    assert list(both) == ["a_view", "c_view", "b_view"]  # a view after the views it reads
    assert both["b_view"] == "-- requires: a_view, budgets\nSELECT * FROM a_view, budgets"
    assert dictionary.catalog_views(["cost_line_items"]) == {}


def test_view_files_with_problems_are_named(tmp_path):
    (tmp_path / "v.sql").write_text("SELECT 1\n")
    with pytest.raises(dictionary.DictionaryError, match=r"v\.sql: no '-- requires: <table>, \.\.\.' line"):
        dictionary.load_catalog_views(tmp_path)
    (tmp_path / "v.sql").write_text("-- requires: w\nSELECT * FROM w\n")
    (tmp_path / "w.sql").write_text("-- requires: v\nSELECT * FROM v\n")
    with pytest.raises(dictionary.DictionaryError, match="views require each other in a cycle: v, w"):
        dictionary.load_catalog_views(tmp_path)
    os.remove(tmp_path / "w.sql")
    (tmp_path / "Bad-Name.sql").write_text("-- requires: v\nSELECT 1\n")
    with pytest.raises(dictionary.DictionaryError, match="Bad-Name.sql: view name 'Bad-Name'"):
        dictionary.load_catalog_views(tmp_path)


def test_catalog_of_a_lake_without_cost_allocation_builds_without_the_views(tmp_path):
    con = duck.connect(s3=False)
    root = str(tmp_path / "lake")
    lake.publish_partition(con, "SELECT 'checkout' AS team, NULL::VARCHAR AS service_code, 10.00::DECIMAL(18,2) AS budget, "
                                "'USD' AS currency", root, "budgets", "2025-01")
    assert dictionary.build_analyst_catalog(root) == catalog.catalog_path(root)
    with catalog.open_catalog(root) as cat:
        assert catalog_relations(cat) == ["budgets"]
        assert dictionary.check_relation(cat, "budgets") == []
