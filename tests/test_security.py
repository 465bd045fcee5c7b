"""Security: no credential leaks, no data becoming SQL or paths, a webserver on localhost.

- A secret key and session token set in the environment (the standard AWS chain) let
  ``curlake materialize`` read an export on the S3 server, and appear nowhere afterwards: not in
  its output, the Dagster instance (run config, tags, event log with every asset's metadata and
  every failure message), the lake (Parquet, version records, catalog) or any file it wrote.
- Tag keys and values, resource ids and allocation-config values that are quotes, newlines and
  SQL are stored and read back as data, and the tables around them are untouched.
- Partition keys, table names and versions are validated before they become paths, at every
  entry point (lake, rollback command, run lock, CLI months, discovery of folders).
- ``curlake ui`` binds the Dagster webserver to 127.0.0.1 unless --host says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

import allocation_builders as ab
import cur_builders as cb
from faults import REPO_ROOT, child_env, materialize_ingest
from orchestration import cli, commands_lake
from orchestration.resources import CurlakeSettings
from transforms import catalog, duck, lake as lake_io, periods, storage
from transforms.allocation import allocate_line_items
from transforms.discover import IngestError, discover
from transforms.generate import generate

PERIOD = "2025-01"
CURLAKE = str(REPO_ROOT / ".venv" / "bin" / "curlake")

HOSTILE = [
    "it's",
    'say "hi"',
    "line one\nline two",
    "'); DROP TABLE cost_line_items; --",
    '"; DELETE FROM cost_line_items WHERE "1"="1',
    "$billing_period",
    "?",
    "{team}",
    "%s %d",
    "back\\slash",
    "tab\tand\rreturn",
    "caf\u00e9 \u6771\u4eac \U0001f4b8",
]


# ------------------------------------------------------------------------------ credentials


def test_a_secret_in_the_environment_appears_in_no_output(s3_bucket, tmp_path):
    secret = "curlakeSECRET" + secrets.token_hex(16)
    token = "curlakeTOKEN" + secrets.token_hex(16)
    source = f"{s3_bucket}/export"
    generate(source, [PERIOD], 10_000, seed=9, fmt="cur2-parquet")
    # A budgets file with an unknown team: one gate fails (failure messages are written too) and
    # only the budget tables are skipped; every other asset runs and writes its metadata.
    budgets = storage.strip_protocol(f"{source}/business_metrics/budgets.csv")
    fs = storage.filesystem(source)
    text = fs.cat_file(budgets).decode().replace(",search,", ",s3cret-team,", 1)
    fs.pipe_file(budgets, text.encode())
    home, lake = tmp_path / "dagster_home", tmp_path / "lake"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = child_env(AWS_SECRET_ACCESS_KEY=secret, AWS_SESSION_TOKEN=token, DAGSTER_HOME=str(home),
                    TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()

    proc = subprocess.run([CURLAKE, "materialize", "--source", source, "--lake", str(lake)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)

    assert proc.returncode == 1, proc.stderr[-3000:]  # the budgets gate failed; everything else ran
    assert "FAILED: budgets.budgets_file_valid" in proc.stdout
    assert {"cost_line_items", "cost_allocation", "unit_economics"} <= set(lake_io.list_tables(str(lake)))
    leaks = [f"stdout/stderr" for out in (proc.stdout, proc.stderr) if secret in out or token in out]
    for root in (home, lake, tmp_path / "tmp"):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if secret.encode() in data or token.encode() in data:
                    leaks.append(str(path))
    assert leaks == []


def test_credentials_are_never_configuration():
    fields = set(CurlakeSettings.model_fields)
    assert not {f for f in fields if any(w in f.lower() for w in ("key", "secret", "token", "password", "credential"))}, fields
    fs = storage.filesystem("s3://")
    assert (fs.key, fs.secret, fs.token) == (None, None, None)  # s3fs leaves them to botocore's chain
    dagster_yaml = (REPO_ROOT / "dagster.yaml").read_text()
    assert "password: {env: DAGSTER_PG_PASSWORD}" in dagster_yaml  # only references to the environment


# ------------------------------------------------------------------------------ data is not SQL


def test_hostile_tags_and_resource_ids_are_stored_as_data(tmp_path, dagster_home):
    rows = [
        cb.cur2_row(PERIOD, identity_line_item_id=f"h{i}", line_item_resource_id=value, line_item_unblended_cost=1.0,
                    resource_tags={"user_team": value, f"user_{value}": "key"})
        for i, value in enumerate(HOSTILE)
    ]
    cb.write_cur2_csv(tmp_path / "csv", PERIOD, rows)
    lake = str(tmp_path / "lake")

    result = materialize_ingest(str(tmp_path / "csv"), lake, instance=dg.DagsterInstance.get())

    assert result.success
    con = catalog.open_catalog(lake)
    got = con.execute("SELECT line_item_id, resource_id, tags FROM cost_line_items ORDER BY line_item_id").fetchall()
    con.close()
    # Tag keys lose their user_ prefix and are lowercased (transforms/tags.py); values stay as written.
    assert sorted(got) == sorted((f"h{i}", value, {"team": value, value.lower(): "key"}) for i, value in enumerate(HOSTILE))


def test_hostile_legacy_column_names_are_quoted_identifiers(tmp_path):
    """Legacy CUR has one column per tag: the tag key is a column name, found in the file."""
    key = 'resource_tags_user_x"; DROP TABLE staged; --'
    rows = [cb.legacy_parquet_row(PERIOD, identity_line_item_id="a", line_item_unblended_cost=2.5, **{key: "v'1"})]
    cb.write_legacy_parquet(tmp_path, PERIOD, rows)
    (delivery,) = discover(str(tmp_path))
    from transforms.readers import ingest_errors, read_delivery

    con = duck.connect()
    with ingest_errors():
        ((tags, cost),) = read_delivery(con, delivery).aggregate("first(tags), sum(unblended_cost)").fetchall()
    assert tags == {'x"; drop table staged; --': "v'1"} and str(cost) == "2.5000000000"


def test_hostile_allocation_config_values_are_bound(tmp_path):
    team = "o'brien\"; DROP TABLE cost_line_items; --"
    text = ab.BASE_CONFIG.replace("  delta: {product: p2, cost_center: CC-4}\n",
                                  f"  delta: {{product: p2, cost_center: CC-4}}\n  {json.dumps(team)}: {{product: p2, cost_center: \"CC-'5\"}}\n")
    text = text.replace("aliases: {alfa: alpha}", "aliases: {\"a'lpha\": alpha}")
    path = tmp_path / "allocation.yaml"
    path.write_text(text)
    config = ab.load_config(path)
    con = ab.connect()
    ab.insert(con, [ab.li("1.00", tags={"team": team, "product": "p2", "environment": "prod"}, resource_id="r1"),
                    ab.li("2.00", tags={"team": "a'lpha", "product": "p1", "environment": "prod"}, resource_id="r2")])

    owned = allocate_line_items(con, config, "cost_line_items", PERIOD).order("resource_id").fetchall()

    columns = allocate_line_items(con, config, "cost_line_items", PERIOD).columns
    teams = [dict(zip(columns, r))["team"] for r in owned]
    assert teams == [team, "alpha"]
    assert con.execute("SELECT count(*) FROM cost_line_items").fetchone() == (2,)


# ------------------------------------------------------------------------------ paths


TRAVERSALS = ["../2025-01", "2025-01/../../etc", "..", "/etc/passwd", "2025-1", "2025-01\x00", "2025-13"]


@pytest.mark.parametrize("period", TRAVERSALS)
def test_billing_periods_are_validated_before_they_become_paths(period, tmp_path, capsys):
    lake = str(tmp_path / "lake")
    with pytest.raises(periods.PeriodError):
        periods.parse_range(period)  # curlake materialize --months
    with pytest.raises(periods.PeriodError):
        with lake_io.period_lock(lake, period):
            pass
    assert commands_lake.cmd_rollback(argparse.Namespace(lake=lake, month=period, table=None, version=None)) == 1
    assert "is not of the form YYYY-MM" in capsys.readouterr().err
    with pytest.raises(periods.PeriodError):
        lake_io.partition_glob(lake, "cost_line_items", period)
    assert not (tmp_path / "lake").exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("table", ["../cost_line_items", "cost_line_items/../../x", "_history", "Costs", "a b", ""])
def test_table_names_are_validated_before_they_become_paths(table, tmp_path, capsys):
    lake = str(tmp_path / "lake")
    con = duck.connect()
    with pytest.raises(lake_io.LakeNameError):
        lake_io.publish_partition(con, "SELECT 1 AS x", lake, table, PERIOD)
    with pytest.raises(lake_io.LakeNameError):
        lake_io.rollback(lake, table, PERIOD)
    args = argparse.Namespace(lake=lake, month=PERIOD, table=[table], version=None)
    assert commands_lake.cmd_rollback(args) == 1
    assert "is not allowed" in capsys.readouterr().err
    assert not Path(lake, "..", "x").exists() and not any(Path(lake).glob("**/*.parquet"))


def test_versions_are_validated_before_they_become_paths(tmp_path, capsys):
    lake = str(tmp_path / "lake")
    args = argparse.Namespace(lake=lake, month=PERIOD, table=["cost_line_items"], version="../../../etc")
    assert commands_lake.cmd_rollback(args) == 1
    assert "is not of the form YYYYMMDDTHHMMSSffffffZ-xxxxxx" in capsys.readouterr().err


@pytest.mark.parametrize("folder", ["BILLING_PERIOD=..", "BILLING_PERIOD=2025-1", "BILLING_PERIOD=2025-01;rm -rf ~"])
def test_source_folders_that_are_not_billing_periods_are_refused(folder, tmp_path):
    path = tmp_path / "cur2" / "data" / folder / "cur2-00001.snappy.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    with pytest.raises(IngestError, match=r"folder BILLING_PERIOD .* is not a billing period \(YYYY-MM\)"):
        discover(str(tmp_path))


def test_dagster_refuses_a_partition_key_that_is_not_a_month(tmp_path):
    from orchestration.assets.cost_line_items import cost_line_items

    with pytest.raises(Exception, match="Could not find a partition with key `../2025-01`"):
        dg.materialize([cost_line_items], partition_key="../2025-01", instance=dg.DagsterInstance.ephemeral(),
                       resources={"settings": CurlakeSettings(source=str(tmp_path), lake=str(tmp_path / "lake"))})
    assert not (tmp_path / "lake").exists()


# ------------------------------------------------------------------------------ webserver


def test_dagster_ui_binds_to_localhost_unless_told(monkeypatch, tmp_path):
    launched = []
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(os, "execv", lambda exe, argv: launched.append(argv))
    monkeypatch.setattr(os, "chdir", lambda path: None)
    cli.main(["ui"])
    cli.main(["ui", "--host", "0.0.0.0", "--port", "3100"])
    hosts = [argv[argv.index("-h") + 1] for argv in launched]
    assert hosts == ["127.0.0.1", "0.0.0.0"]
    readme = (REPO_ROOT / "README.md").read_text()
    assert "binds the webserver to 127.0.0.1" in readme and "ssh -L 3000:127.0.0.1:3000" in readme
    assert "authenticating reverse proxy" in readme
