"""Benchmark months: the sample generator's CUR 2.0 export, widened to a large organization, cached.

``transforms.generate`` writes a realistic bill for the fixed 12-team, 12-account sample org
(transforms/generate/org.py), whose resources live for days. A large organization's hourly CUR
has far more of everything, and cardinality is what hash aggregates, joins and map lookups pay
for. So each generated file is rewritten once, in DuckDB, with the same costs, line item types,
days and tags, and more distinct keys:

- **resources**: a resource id becomes one id per ``span`` hours of its life (autoscaled and
  replaced instances), so a month holds well over 100 thousand distinct resources;
- **accounts**: each linked account becomes ``ACCOUNT_SHARDS`` accounts (a resource stays in
  one of them for its whole life): 2 payers + 10 x 5 = 52 accounts;
- **teams**: each ``user_team`` tag value becomes ``SQUADS`` squads (``checkout``,
  ``checkout-s1``, ``checkout-s2``), so 36 teams; business metrics and budgets are split across squads and
  the allocation config (``bench_allocation.yaml``, written next to the data) knows them all.

Charges without a resource (tax, fees, discounts, credits) keep their account, as do the
Savings Plan negation rows their covered usage's (same resource, same hour, same new id).
Costs are untouched, so the month's totals are the generator's.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from pathlib import Path

import yaml

from transforms import duck
from transforms.generate import generate, org

CACHE = Path(__file__).resolve().parent / ".cache"
PERIOD = "2025-01"
SEED = 1
ACCOUNT_SHARDS = 5
SQUADS = 3
# Only the most used team key is split (its variants keep the base team): one map_concat per row.
TEAM_TAG_KEY = "user_team"
# Bumped whenever the widening changes, so a stale cache is rebuilt rather than measured.
RECIPE = "widen-v3"  # v3: rows without a resource id (empty text too) keep none


def span_hours(rows: int) -> int:
    """Hours one resource id covers: about 150k distinct resources whatever the month's size."""
    return max(4, min(168, rows // 150_000))


def month_root(rows: int, widened: bool = True) -> Path:
    return CACHE / f"cur2-{rows}{'' if widened else '-plain'}"


def ensure_month(rows: int, *, widened: bool = True, memory_limit: str = "4GB") -> Path:
    """The cached source root for a ``rows``-line-item month, generated (and widened) if missing.

    ``widened=False`` keeps the generator's own org (12 accounts, 12 teams): for a first 100M
    run when rewriting 100M rows first does not fit the time at hand.
    """
    root = month_root(rows, widened)
    recipe = RECIPE if widened else "plain"
    marker = root / ".complete"
    if marker.exists() and json.loads(marker.read_text()).get("recipe") == recipe:
        return root
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    print(f"generating {rows:,} line items for {PERIOD} -> {root}", flush=True)
    generate(str(root), [PERIOD], rows, seed=SEED, fmt="cur2-parquet")
    t1 = time.perf_counter()
    if widened:
        widen(root, rows, memory_limit=memory_limit)
    else:
        shutil.copyfile(Path(__file__).resolve().parents[1] / "config" / "allocation.yaml", root / "bench_allocation.yaml")
    t2 = time.perf_counter()
    marker.write_text(json.dumps({"recipe": recipe, "rows": rows, "generate_s": t1 - t0, "widen_s": t2 - t1}))
    print(f"  generated in {t1 - t0:.0f} s, widened in {t2 - t1:.0f} s", flush=True)
    return root


def widen(root: Path, rows: int, *, memory_limit: str = "4GB") -> None:
    """Rewrite every data file of the export in place (same names: the manifest still lists them)."""
    files = sorted(glob.glob(str(root / "cur2" / "data" / "*" / "*.parquet")))
    con = duck.connect(memory_limit=memory_limit, s3=False)
    try:
        con.execute("SET enable_progress_bar = false")
        for path in files:
            tmp = path + ".widening"
            con.execute(
                f"COPY ({_WIDEN_SQL}) TO '{_sql_path(tmp)}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 500000)",
                {"file": path, "span": span_hours(rows), "shards": ACCOUNT_SHARDS, "squads": SQUADS,
                 "team_key": TEAM_TAG_KEY, "payers": list(org.PAYERS)},
            )
            os.replace(tmp, path)
    finally:
        con.close()
    _widen_business_metrics(root)
    write_allocation_config(root / "bench_allocation.yaml")


def _sql_path(path: str) -> str:
    """A local path as a COPY target (COPY takes no bound target); refuse quotes rather than escape."""
    if "'" in path:
        raise ValueError(f"bench cache path {path!r} contains a quote")
    return path


# Per row: the resource's shard (account) and squad (team) come from the original resource id, so
# a resource keeps one account and one team all month; its new id adds the period of its life.
_WIDEN_SQL = """
WITH src AS (
    SELECT *,
        hash(line_item_resource_id) AS h,
        nullif(line_item_resource_id, '') IS NOT NULL AND line_item_usage_account_id <> ALL($payers) AS movable
    FROM read_parquet($file)
)
SELECT * EXCLUDE (h, movable, line_item_resource_id, line_item_usage_account_id, line_item_usage_account_name, resource_tags),
    -- The generator writes '' for charges of no resource (fees, discounts, credits): they keep it.
    CASE WHEN nullif(line_item_resource_id, '') IS NULL THEN line_item_resource_id
         ELSE line_item_resource_id || '-' || CAST(date_diff('hour', TIMESTAMP '2000-01-01', line_item_usage_start_date) // $span AS VARCHAR)
    END AS line_item_resource_id,
    CASE WHEN movable AND h % $shards > 0
         THEN left(line_item_usage_account_id, 3) || CAST(h % $shards AS VARCHAR) || right(line_item_usage_account_id, 8)
         ELSE line_item_usage_account_id
    END AS line_item_usage_account_id,
    CASE WHEN movable AND h % $shards > 0
         THEN line_item_usage_account_name || '-' || CAST(h % $shards AS VARCHAR)
         ELSE line_item_usage_account_name
    END AS line_item_usage_account_name,
    CASE WHEN (h // 7) % $squads = 0 OR rtrim(resource_tags[$team_key]) = '' THEN resource_tags
         ELSE map_concat(resource_tags, MAP {$team_key: rtrim(resource_tags[$team_key]) || '-s'
             || CAST((h // 7) % $squads AS VARCHAR) || resource_tags[$team_key][length(rtrim(resource_tags[$team_key])) + 1:]})
    END AS resource_tags
FROM src
"""


def squads(team: str) -> list[str]:
    return [team] + [f"{team}-s{i}" for i in range(1, SQUADS)]


def _widen_business_metrics(root: Path) -> None:
    """Split each team's metrics and budgets evenly across its squads (revenue to the cent)."""
    folder = root / "business_metrics"
    con = duck.connect(s3=False)
    try:
        con.execute("SET enable_progress_bar = false")
        splits = "SELECT * FROM (VALUES " + ", ".join(f"({i})" for i in range(SQUADS)) + ") AS s(squad)"
        for name, money, counts in (
            ("metrics_daily.csv", ["revenue"], ["orders", "active_users", "requests"]),
            ("budgets.csv", ["budget"], []),
        ):
            path = str(folder / name)
            rel = con.read_csv(path, all_varchar=True)
            columns = rel.columns
            exprs = []
            for c in columns:
                if c == "team":
                    exprs.append("CASE WHEN squad = 0 THEN team ELSE team || '-s' || CAST(squad AS VARCHAR) END AS team")
                elif c in money:
                    exprs.append(f"CAST(round(CAST({c} AS DECIMAL(18,2)) / {SQUADS}, 2) AS VARCHAR) AS {c}")
                elif c in counts:
                    exprs.append(f"CAST(CAST({c} AS BIGINT) // {SQUADS} AS VARCHAR) AS {c}")
                else:
                    exprs.append(c)
            tmp = path + ".widening"
            con.execute(f"COPY (SELECT {', '.join(exprs)} FROM read_csv($p, all_varchar := true), ({splits}) "
                        f"ORDER BY ALL) TO '{_sql_path(tmp)}' (HEADER, DELIMITER ',')", {"p": path})
            os.replace(tmp, path)
    finally:
        con.close()


def write_allocation_config(path: Path) -> None:
    """config/allocation.yaml for the widened org: every squad a team, every account shard mapped."""
    base = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "allocation.yaml").read_text())
    base["teams"] = {name: spec for team, spec in base["teams"].items() for name in squads(team)}
    accounts = {}
    for account_id, spec in base["accounts"].items():
        accounts[account_id] = spec
        if account_id not in org.PAYERS:
            for shard in range(1, ACCOUNT_SHARDS):
                accounts[account_id[:3] + str(shard) + account_id[4:]] = spec
    base["accounts"] = accounts
    for rule in base["rules"]:
        listed = rule.get("match", {}).get("account")
        if listed:
            rule["match"]["account"] = [a[:3] + str(s) + a[4:] if s else a for a in listed for s in range(ACCOUNT_SHARDS)]
    path.write_text("# Written by bench/dataset.py: config/allocation.yaml for the widened benchmark org.\n"
                    + yaml.safe_dump(base, sort_keys=False))
