"""Profile the curated tables that read cost_line_items: where each one's time goes, build by build.

    .venv/bin/python bench/profile_curated.py time --rows 1000000 [--tables cost_allocation ...] [--profile]
    .venv/bin/python bench/profile_curated.py snapshot --rows 1000000 --out DIR
    .venv/bin/python bench/profile_curated.py compare OLD_DIR NEW_DIR
    .venv/bin/python bench/profile_curated.py diff OLD.json NEW.json

Reads the bench lake ``bench/.cache/lake-<rows>`` (made by ``python -m bench.run``) and never
writes to it: each table runs as its asset does (``orchestration.assets.curated.TABLES[name]``:
inputs opened as views over the lake, build into a run-local database, gates, publish) but the
publish goes to a throw-away lake in a temporary folder. ``time`` prints, per table, wall and CPU
seconds (all threads) of the build, each gate and the sorted publish; ``--profile`` runs the
build once more under DuckDB's JSON profiler and lists its costliest operators with their share
of all operator time, which is what to fix first (the operator seconds themselves swell on a
loaded machine: compare CPU seconds across runs). ``diff OLD.json NEW.json`` sets two ``time
--json`` runs side by side.

``snapshot`` writes each table's built rows to ``DIR/<table>.parquet``; ``compare`` checks two
snapshots row for row (``EXCEPT ALL`` both ways, so duplicates count). To snapshot the code as it
was, run this file by path with an older tree first on the path::

    git archive HEAD | tar -x -C /tmp/curlake-old
    PYTHONPATH=/tmp/curlake-old .venv/bin/python bench/profile_curated.py snapshot --out /tmp/old
    .venv/bin/python bench/profile_curated.py snapshot --out /tmp/new
    .venv/bin/python bench/profile_curated.py compare /tmp/old /tmp/new

(Run by path, the script's own folder is first on ``sys.path``, so ``transforms`` and
``orchestration`` come from ``PYTHONPATH`` when it is set, else from the editable install; the
tree used is printed.)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from orchestration.resources import CurlakeSettings

CACHE = Path(__file__).resolve().parent / ".cache"
PERIOD = "2025-01"
# Every curated table that reads cost_line_items, directly or through cost_allocation.
TABLES: tuple[str, ...] = (
    "cost_allocation", "shared_cost_split", "allocation_coverage", "unallocated_drivers",
    "tag_compliance", "tag_key_variants", "cost_anomalies",
)
# extra_info keys that say what an operator computes (the rest is cardinality estimates).
_DETAIL_KEYS = ("Table", "Function", "Projections", "Aggregates", "Groups", "Conditions", "Join Type",
                "Filters", "Expression", "Order By", "Partition By")

_log = logging.getLogger("bench.profile")


@dataclass
class Timing:
    """Wall and CPU seconds (every thread of the process, DuckDB's included) of one step."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0


@dataclass
class TableRun:
    """One table's steps (build, each gate, publish) and its build's costliest operators."""

    name: str
    rows: int = 0
    steps: dict[str, Timing] = field(default_factory=dict)
    operators: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Timing:
        return Timing(sum(t.seconds for t in self.steps.values()), sum(t.cpu_seconds for t in self.steps.values()))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def timed(run: TableRun, step: str) -> Iterator[None]:
    """Record the block's wall and CPU seconds as ``run.steps[step]``."""
    c0, t0 = _cpu(), time.perf_counter()
    try:
        yield
    finally:
        run.steps[step] = Timing(time.perf_counter() - t0, _cpu() - c0)


def _settings(lake: Path, rows: int, memory_limit: str, allocation_config: Path | None = None) -> CurlakeSettings:
    from orchestration.resources import CurlakeSettings

    source = CACHE / f"cur2-{rows}"
    config = allocation_config or source / "bench_allocation.yaml"
    return CurlakeSettings(source=str(source), lake=str(lake), allocation_config=str(config),
                           duckdb_memory_limit=memory_limit)


@contextmanager
def table_workspace(settings: CurlakeSettings, name: str) -> Iterator[tuple[Any, Any, str]]:
    """A run-local database with the table's inputs opened over the bench lake, as the asset has it."""
    from orchestration.assets.curated import TABLES as DECLARED
    from orchestration.assets.curated import BuildContext, open_inputs
    from transforms import duck

    table = DECLARED[name]
    with tempfile.TemporaryDirectory(prefix="curlake-profile-") as workdir:
        con = duck.connect(os.path.join(workdir, "stage.duckdb"), memory_limit=settings.duckdb_memory_limit,
                           temp_directory=os.path.join(workdir, "spill"))
        try:
            open_inputs(con, settings, PERIOD, table.inputs, table.history_inputs)
            yield table, BuildContext(settings, PERIOD, con, _log), workdir
        finally:
            con.close()


def top_operators(profile: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """The ``n`` costliest operators of a JSON profile: time, share of all operator time, rows out, what."""
    found: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        detail = "; ".join(f"{k}: {info[k]}" for k in _DETAIL_KEYS if info.get(k))
        found.append({"operator": node.get("name", "?"), "seconds": float(node.get("timing") or 0.0),
                      "rows": int(node.get("intermediate_rows") or 0), "detail": " ".join(detail.split())})
        for child in node.get("children", []):
            walk(child)

    for root in profile.get("operator", []):
        walk(root)
    total = sum(op["seconds"] for op in found) or 1.0
    for op in found:
        op["share"] = op["seconds"] / total
    return sorted(found, key=lambda op: op["seconds"], reverse=True)[:n]


def run_table(settings: CurlakeSettings, name: str, *, profile: bool, publish: bool, top: int) -> TableRun:
    """Build, gate and publish one table (to a throw-away lake); optionally profile its build."""
    from orchestration.assets.curated import STAGED
    from transforms import lake

    run = TableRun(name)
    with table_workspace(settings, name) as (table, ctx, workdir):
        with timed(run, "build"):
            table.build(ctx).create(STAGED)
        run.rows = ctx.con.execute(f'SELECT count(*) FROM "{STAGED}"').fetchall()[0][0]
        for gate in table.gates:
            with timed(run, f"gate {gate.name}"):
                result = gate.run(ctx, STAGED)
            if result.blocking and not result.passed:
                raise RuntimeError(f"{name}: blocking gate {gate.name} failed: {result.observed}")
        if publish:
            with timed(run, "publish"):
                lake.publish_partition(ctx.con, f'SELECT * FROM "{STAGED}"', os.path.join(workdir, "lake"), name, PERIOD,
                                       sort_by=list(table.sort_by) or None)
        if profile:
            # Written to a file: with no output file DuckDB prints every profile to stdout.
            output = os.path.join(workdir, "profile.json")
            ctx.con.execute("PRAGMA enable_profiling = 'json'")
            ctx.con.execute("SET profiling_output = $f", {"f": output})
            table.build(ctx).create("profiled")
            ctx.con.execute("PRAGMA disable_profiling")
            run.operators = top_operators(json.loads(Path(output).read_text()), top)
    return run


# The bench month's tags are clean: no misspelled keys, no unknown team. ``--perturb-tags`` rewrites
# them on a fixed seventh of the rows each (by a hash of the line item id) so that tag_key_variants,
# tag_compliance's invalid values and unallocated_drivers' unknown teams have rows to compare.
PERTURBED_TAGS = """
CASE hash(line_item_id, usage_start) % 7
    WHEN 0 THEN map_from_entries(list_transform(map_entries(tags), lambda e: {'key': CASE e.key
        WHEN 'team' THEN 'Team ' WHEN 'environment' THEN 'enviroment' ELSE e.key END, 'value': e.value}))
    WHEN 1 THEN map_from_entries(list_transform(map_entries(tags), lambda e: {'key': CASE e.key
        WHEN 'cost-center' THEN 'cost_center' WHEN 'product' THEN 'prodcut' ELSE e.key END, 'value': e.value}))
    WHEN 2 THEN map_from_entries(list_transform(map_entries(tags), lambda e: {'key': e.key, 'value': CASE e.key
        WHEN 'team' THEN 'squad-' || e.value WHEN 'environment' THEN upper(e.value) || ' ' ELSE e.value END}))
    ELSE tags
END"""


def perturb_tags(con: duckdb.DuckDBPyConnection, settings: CurlakeSettings) -> None:
    """Replace the ``cost_line_items`` view by one whose tags carry PERTURBED_TAGS."""
    from transforms import lake

    source = lake.read_partition_sql(settings.lake, "cost_line_items", PERIOD)
    con.execute(f"CREATE OR REPLACE VIEW cost_line_items AS SELECT * REPLACE ({PERTURBED_TAGS} AS tags) FROM {source}")


def snapshot(settings: CurlakeSettings, names: list[str], out: Path, *, perturb: bool = False) -> dict[str, int]:
    """Each table's built rows (before publish) to ``out/<table>.parquet``; rows per table."""
    from orchestration.assets.curated import STAGED

    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in names:
        with table_workspace(settings, name) as (table, ctx, _):
            if perturb and "cost_line_items" in (*table.inputs, *table.history_inputs):
                perturb_tags(ctx.con, settings)
            table.build(ctx).create(STAGED)
            target = str(out / f"{name}.parquet")
            ctx.con.table(STAGED).write_parquet(target)
            counts[name] = ctx.con.execute(f'SELECT count(*) FROM "{STAGED}"').fetchall()[0][0]
        print(f"  {name:<22} {counts[name]:>10,} rows -> {target}", flush=True)
    return counts


def compare(old: Path, new: Path, names: list[str]) -> bool:
    """Row-for-row equality of two snapshots: counts, then EXCEPT ALL in both directions (by column name)."""
    con = duckdb.connect()
    same = True
    for name in names:
        a, b = old / f"{name}.parquet", new / f"{name}.parquet"
        if not (a.exists() and b.exists()):
            print(f"  {name:<22} missing in {'old' if not a.exists() else 'new'} snapshot")
            same = False
            continue
        rel_a, rel_b = con.read_parquet(str(a)), con.read_parquet(str(b))
        if rel_a.columns != rel_b.columns or rel_a.types != rel_b.types:
            print(f"  {name:<22} columns differ: {list(zip(rel_a.columns, rel_a.types))} vs {list(zip(rel_b.columns, rel_b.types))}")
            same = False
            continue
        q = "SELECT count(*) FROM (SELECT * FROM read_parquet($x) EXCEPT ALL SELECT * FROM read_parquet($y))"
        only_old = con.execute(q, {"x": str(a), "y": str(b)}).fetchall()[0][0]
        only_new = con.execute(q, {"x": str(b), "y": str(a)}).fetchall()[0][0]
        n_old, n_new = (con.execute("SELECT count(*) FROM read_parquet($f)", {"f": str(p)}).fetchall()[0][0] for p in (a, b))
        ok = only_old == 0 and only_new == 0 and n_old == n_new
        same &= ok
        print(f"  {name:<22} rows old {n_old:>9,} new {n_new:>9,}; only in old {only_old}, only in new {only_new}: "
              f"{'identical' if ok else 'DIFFERENT'}")
    con.close()
    return same


def _step(steps: dict[str, dict[str, float]], step: str) -> dict[str, float]:
    """One step's figures of a ``time --json`` table, ``total`` for their sum, zeros if it has no such step."""
    if step == "total":
        return {k: sum(v[k] for v in steps.values()) for k in ("cpu_seconds", "seconds")}
    return steps.get(step, {"cpu_seconds": 0.0, "seconds": 0.0})


def diff(old: Path, new: Path) -> None:
    """Per table and step, CPU and wall seconds of two ``time --json`` runs, and new / old."""
    runs = [json.loads(p.read_text()) for p in (old, new)]
    print(f"rows {runs[0]['rows']:,} / {runs[1]['rows']:,}; load {runs[0]['load']:.1f} / {runs[1]['load']:.1f}")
    print(f"{'table':<22} {'step':<34} {'CPU s old':>9} {'new':>7} {'new/old':>7} {'s old':>7} {'new':>7}")
    tables = [{t["name"]: t["steps"] for t in r["tables"]} for r in runs]
    for name in [n for n in tables[0] if n in tables[1]]:
        a, b = tables[0][name], tables[1][name]
        for step in [*dict.fromkeys([*a, *b]), "total"]:
            x, y = _step(a, step), _step(b, step)
            ratio = f"{y['cpu_seconds'] / x['cpu_seconds']:.2f}" if x["cpu_seconds"] > 0 else "-"
            print(f"{name:<22} {step:<34} {x['cpu_seconds']:9.2f} {y['cpu_seconds']:7.2f} {ratio:>7} "
                  f"{x['seconds']:7.2f} {y['seconds']:7.2f}")


def _print_run(run: TableRun) -> None:
    total = run.total
    print(f"\n{run.name}: {total.seconds:.2f} s, {total.cpu_seconds:.2f} CPU s, {run.rows:,} rows", flush=True)
    for step, t in run.steps.items():
        print(f"    {step:<34} {t.seconds:7.2f} s {t.cpu_seconds:7.2f} CPU s")
    for op in run.operators:
        print(f"    {op['share']:6.1%} {op['seconds']:7.2f} s  {op['operator']:<22} {op['rows']:>11,} rows  {op['detail'][:150]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in ("time", "snapshot"):
        p = sub.add_parser(cmd)
        p.add_argument("--rows", type=int, default=1_000_000, help="bench month size (lake-<rows> must exist)")
        p.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
        p.add_argument("--memory-limit", default="4GB")
        p.add_argument("--allocation-config", type=Path, help="instead of the bench month's bench_allocation.yaml")
        if cmd == "time":
            p.add_argument("--profile", action="store_true", help="also list each build's costliest operators")
            p.add_argument("--top", type=int, default=8)
            p.add_argument("--no-publish", action="store_true")
            p.add_argument("--json", type=Path, help="write the figures here too")
        else:
            p.add_argument("--out", type=Path, required=True)
            p.add_argument("--perturb-tags", action="store_true", help="misspell tag keys and values on some rows")
    p = sub.add_parser("compare")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    p = sub.add_parser("diff")
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    args = parser.parse_args(argv)

    if args.command == "compare":
        return 0 if compare(args.old, args.new, args.tables) else 1
    if args.command == "diff":
        diff(args.old, args.new)
        return 0

    import orchestration.definitions  # noqa: F401  (declares every CuratedTable)
    import transforms

    lake_dir = CACHE / f"lake-{args.rows}"
    if not (lake_dir / "cost_line_items").is_dir():
        raise SystemExit(f"{lake_dir} has no cost_line_items: run `python -m bench.run --rows {args.rows}` first")
    settings = _settings(lake_dir, args.rows, args.memory_limit, args.allocation_config)
    print(f"code: {Path(transforms.__file__).resolve().parents[1]}; lake: {lake_dir}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if args.command == "snapshot":
        snapshot(settings, args.tables, args.out, perturb=args.perturb_tags)
        return 0
    runs: list[TableRun] = []
    for name in args.tables:
        run = run_table(settings, name, profile=args.profile, publish=not args.no_publish, top=args.top)
        runs.append(run)
        _print_run(run)
    print(f"\nload {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(
            {"rows": args.rows, "load": os.getloadavg()[0],
             "tables": [{"name": r.name, "rows": r.rows, "steps": {k: vars(v) for k, v in r.steps.items()},
                         "operators": r.operators} for r in runs]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
