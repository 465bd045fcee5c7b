"""The benchmark: one month of 1M / 10M / 100M line items through every stage, against the scan floor.

    .venv/bin/python -m bench.run --rows 1000000 10000000      # make bench: --rows 1000000
    .venv/bin/python -m bench.run --rows 100000000 --plain --no-dagster
    .venv/bin/python -m bench.run --rows 1000000 --peer   # also focus-converter vs curlake (bench/peer.py)

Per size: the cached month (bench/dataset.py), the scan floor (bench/floor.py), every stage
called directly (bench/pipeline.py) with seconds, CPU seconds, rows/s, peak RSS, bytes read and
written, each as a multiple of the floor, then the same work through ``curlake materialize`` in a
subprocess (the Dagster run overhead). Results go to bench/.cache/results-<rows>.json and the
figures section of BENCHMARKS.md (between its bench markers) is rewritten from every results file.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from bench import dataset
from bench.floor import copy_floor, scan_floor
from bench.measure import StageFigures
from bench.peer import bench_peer, load_results, render_peer
from bench.pipeline import run_month

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:figures:begin -->", "<!-- bench:figures:end -->"


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpus": os.cpu_count(), "memory_gib": round(mem / 2**30, 1), "python": platform.python_version(),
            "platform": platform.platform()}


def dagster_run(source: Path, allocation: Path, rows: int) -> dict:
    """The same month through ``curlake materialize`` (a fresh lake and Dagster instance)."""
    with tempfile.TemporaryDirectory(prefix="curlake-bench-dagster-") as tmp:
        env = dict(os.environ, DAGSTER_HOME=os.path.join(tmp, "home"))
        os.makedirs(env["DAGSTER_HOME"])
        start = [sys.executable, "-c", "import orchestration.definitions"]
        t0 = time.perf_counter()
        subprocess.run(start, check=True, cwd=REPO, env=env)
        import_s = time.perf_counter() - t0
        cmd = [str(REPO / ".venv" / "bin" / "curlake"), "materialize", "--source", str(source),
               "--lake", os.path.join(tmp, "lake"), "--allocation-config", str(allocation)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise RuntimeError(f"curlake materialize failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return {"seconds": seconds, "process_start_s": import_s, "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                "peak_rss_bytes": after.ru_maxrss * 1024, "load_average": os.getloadavg()[0]}


def bench_size(rows: int, *, widened: bool, dagster: bool, memory_limit: str) -> dict:
    root = dataset.ensure_month(rows, widened=widened, memory_limit=memory_limit)
    files = sorted(glob.glob(str(root / "cur2" / "data" / "*" / "*.parquet")))
    source_bytes = sum(os.path.getsize(f) for f in files)
    print(f"\n== {rows:,} line items ({'widened' if widened else 'plain'} org), {source_bytes / 2**20:,.0f} MiB of Parquet", flush=True)
    floor = scan_floor(files, memory_limit=memory_limit)
    print(f"  scan floor: {floor.seconds:.2f} s ({floor.rows_per_second:,.0f} rows/s, load {floor.load_average:.1f})", flush=True)
    # One run past 20M rows: a copy of 100M line items costs as much as ingesting them.
    copy = copy_floor(files, memory_limit=memory_limit, runs=1 if rows > 20_000_000 else 2)
    print(f"  copy floor: {copy.seconds:.2f} s, {copy.cpu_seconds:.1f} CPU s (load {copy.load_average:.1f})", flush=True)
    lake = dataset.CACHE / f"lake-{rows}{'' if widened else '-plain'}"
    if lake.exists():
        shutil.rmtree(lake)
    stages = run_month(str(root), str(lake), dataset.PERIOD, str(root / "bench_allocation.yaml"),
                       memory_limit=memory_limit, input_rows=rows)
    total = sum(s.seconds for s in stages)
    print(f"  pipeline: {total:.1f} s = {total / floor.seconds:.1f} x the scan floor", flush=True)
    result = {
        "rows": rows, "widened": widened, "memory_limit": memory_limit, "source_bytes": source_bytes,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
        "floor": asdict(floor), "copy_floor": asdict(copy), "stages": [asdict(s) for s in stages], "pipeline_s": total,
    }
    if dagster:
        result["dagster"] = dagster_run(root, root / "bench_allocation.yaml", rows)
        d = result["dagster"]
        print(f"  curlake materialize: {d['seconds']:.1f} s (process start {d['process_start_s']:.1f} s) vs direct {total:.1f} s", flush=True)
    out = dataset.CACHE / f"results-{rows}{'' if widened else '-plain'}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    return result


def _cpu(seconds: float) -> str:
    """CPU seconds, or '-' for results recorded before the harness measured them."""
    return f"{seconds:.1f}" if seconds else "-"


def render(results: list[dict]) -> str:
    """Markdown tables of every results file (one per month size)."""
    lines = []
    for r in sorted(results, key=lambda r: r["rows"]):
        floor = StageFigures(**r["floor"])
        m = r["machine"]
        lines += [
            f"### {r['rows']:,} line items ({'widened org' if r['widened'] else 'generator org, not widened'}), measured {r['date']}",
            "",
            f"Machine: {m['cpus']} cores, {m['memory_gib']} GiB, Python {m['python']}; DuckDB memory_limit {r['memory_limit']}; "
            f"source {r['source_bytes'] / 2**20:,.0f} MiB of CUR 2.0 Parquet. "
            f"Scan floor {floor.seconds:.2f} s, {_cpu(floor.cpu_seconds)} CPU s ({floor.rows_per_second:,.0f} rows/s, load {floor.load_average:.1f}).",
            *([f"Copy floor (the export copied unchanged to zstd Parquet: the least a write-once ingestion costs) "
               f"{r['copy_floor']['seconds']:.2f} s, {_cpu(r['copy_floor']['cpu_seconds'])} CPU s = "
               f"{r['copy_floor']['seconds'] / floor.seconds:.1f}x the scan floor."] if "copy_floor" in r else []),
            "",
            "| stage | s | x floor | CPU s | line items/s | peak RSS MiB | read MiB | written MiB | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in map(lambda d: StageFigures(**d), r["stages"]):
            lines.append(f"| {s.name} | {s.seconds:.2f} | {s.seconds / floor.seconds:.1f} | {_cpu(s.cpu_seconds)} | {s.rows_per_second:,.0f} | "
                         f"{s.peak_rss_bytes / 2**20:,.0f} | {s.read_bytes / 2**20:,.0f} | {s.written_bytes / 2**20:,.0f} | {s.load_average:.1f} |")
        peak = max(s["peak_rss_bytes"] for s in r["stages"])
        cpu = sum(s.get("cpu_seconds", 0.0) for s in r["stages"])
        lines.append(f"| **whole pipeline** | **{r['pipeline_s']:.1f}** | **{r['pipeline_s'] / floor.seconds:.1f}** | {_cpu(cpu)} | "
                     f"{r['rows'] / r['pipeline_s']:,.0f} | {peak / 2**20:,.0f} | | | |")
        if "dagster" in r:
            d = r["dagster"]
            lines += ["", f"Through `curlake materialize` (Dagster run, one process): {d['seconds']:.1f} s wall, "
                      f"of which {d['process_start_s']:.1f} s is process start and imports; peak RSS "
                      f"{d['peak_rss_bytes'] / 2**20:,.0f} MiB; load {d['load_average']:.1f}. Overhead vs direct: "
                      f"{d['seconds'] - d['process_start_s'] - r['pipeline_s']:+.1f} s."]
        lines.append("")
    return "\n".join(lines)


def write_benchmarks() -> None:
    results = [json.loads(Path(p).read_text()) for p in sorted(glob.glob(str(dataset.CACHE / "results-*.json")))]
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    BENCHMARKS.write_text(f"{head}{BEGIN}\n{render(results)}\n{render_peer(load_results())}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--plain", action="store_true", help="the generator's own org (skip widening)")
    p.add_argument("--no-dagster", action="store_true", help="skip the curlake materialize comparison")
    p.add_argument("--memory-limit", default=os.environ.get("CURLAKE_DUCKDB_MEMORY_LIMIT", "4GB"))
    p.add_argument("--peer", action="store_true", help="also focus-converter vs curlake's FOCUS export (bench/peer.py)")
    args = p.parse_args(argv)
    for rows in args.rows:
        bench_size(rows, widened=not args.plain, dagster=not args.no_dagster, memory_limit=args.memory_limit)
        if args.peer:
            bench_peer(rows, widened=not args.plain, memory_limit=args.memory_limit)
        write_benchmarks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
