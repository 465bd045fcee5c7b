"""Tag key normalization: the Python rules, and the DuckDB expression agreeing with them."""

from __future__ import annotations

import pytest

import cur_builders as cb
from transforms import duck
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery
from transforms.tags import normalize_key, normalize_tags


@pytest.mark.parametrize("raw, want", [
    ("user_team", "team"),
    ("user_Team", "team"),
    ("user:team", "team"),
    ("USER:Team", "team"),
    ("  user_Cost-Center\t", "cost-center"),
    ("user_owner-team", "owner-team"),  # other characters kept: aliasing is the allocation config's job
    ("owner-team", "owner-team"),
    ("aws:createdBy", "aws_createdby"),
    ("aws_createdBy", "aws_createdby"),
    ("aws:cloudformation:stack-name", "aws_cloudformation:stack-name"),
    ("Environment", "environment"),
    ("user_", ""),
    ("  ", ""),
])
def test_normalize_key(raw, want):
    assert normalize_key(raw) == want


# raw tags of one row -> normalized tags, each worked out from the rules in transforms/tags.py
TAG_CASES = [
    ({"user_team": "search", "user_Team": "checkout"}, {"team": "checkout"}),  # 'user_T' < 'user_t'
    ({"user_Team": "", "user_team": "search"}, {"team": "search"}),  # first *non-empty* value
    ({"user_Team": None, "user_team": "search"}, {"team": "search"}),
    ({"user_team": "search", "team": "ads"}, {"team": "ads"}),  # 'team' < 'user_team'
    ({"aws:createdBy": "a", "aws_createdBy": "b"}, {"aws_createdby": "a"}),  # ':' < '_'
    ({"user_env": "prod", "user_owner-team": "payments"}, {"env": "prod", "owner-team": "payments"}),
    ({"user_": "x", " ": "y", "user_env": ""}, {}),
    ({}, {}),
    ({"user_Équipe": "paiements"}, {"équipe": "paiements"}),
]


@pytest.mark.parametrize("raw, want", TAG_CASES)
def test_normalize_tags(raw, want):
    assert normalize_tags(raw) == want


def test_duckdb_expression_agrees_with_python_on_cur2_maps(tmp_path):
    rows = [cb.cur2_row(identity_line_item_id=f"t{i}", resource_tags=raw) for i, (raw, _) in enumerate(TAG_CASES)]
    cb.write_cur2_parquet(tmp_path, "2025-01", rows)
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        got = dict(read_delivery(duck.connect(), d).project("line_item_id, tags").fetchall())
    for i, (raw, want) in enumerate(TAG_CASES):
        assert got[f"t{i}"] == want == normalize_tags(raw), raw


def test_legacy_csv_headers_keep_their_spelling(tmp_path):
    """resourceTags/user:Team and resourceTags/user:team differ only by case: both reach the rules."""
    raw = {"user:Team": "checkout", "user:team": "search", "aws:createdBy": "x", "user:owner-team": ""}
    row = cb.legacy_csv_row(**{f"resourceTags/{k}": v for k, v in raw.items()})
    cb.write_legacy_csv(tmp_path / "cur.csv", [row])
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        ((tags,),) = read_delivery(duck.connect(), d).project("tags").fetchall()
    assert tags == normalize_tags(raw) == {"team": "checkout", "aws_createdby": "x"}


def test_legacy_columns_agree_with_python_on_every_case(tmp_path):
    """Legacy CUR: one column per raw key, normalized by name at staging; same result as the rules.

    All rows share the union of the raw keys as headers; a key a case lacks is an empty cell,
    which the rules drop like a missing key.
    """
    raw_keys = sorted({k for raw, _ in TAG_CASES for k in raw if k.strip()})
    rows = []
    for i, (raw, _) in enumerate(TAG_CASES):
        cells = {f"resourceTags/{k}": raw.get(k) or "" for k in raw_keys}
        rows.append(cb.legacy_csv_row(**{"identity/LineItemId": f"t{i}"}, **cells))
    cb.write_legacy_csv(tmp_path / "cur.csv.gz", rows)
    (d,) = discover(str(tmp_path))
    with ingest_errors():
        got = dict(read_delivery(duck.connect(), d).project("line_item_id, tags").fetchall())
    for i, (raw, want) in enumerate(TAG_CASES):
        without_blank_keys = {k: v for k, v in raw.items() if k.strip()}
        assert got[f"t{i}"] == normalize_tags(without_blank_keys) == want, raw
