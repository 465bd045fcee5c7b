"""The peer benchmark: the FinOps Foundation's ``focus-converter`` against curlake's FOCUS export.

    .venv/bin/python -m bench.peer --rows 1000000 10000000     # or: python -m bench.run --peer
    .venv/bin/python -m bench.peer --rows 1000000 --repeat 3   # alternate 3 times, keep each side's fastest

Both convert the same month (the benchmark month of ``bench/dataset.py``) to FOCUS:

- **peer**: ``focus-converter`` 1.0.0 (polars, pyarrow; ``click==8.1.7`` and ``multimethod<1.11``
  in a venv of its own, ``bench/.cache/peer-venv``), reading the month written as legacy CUR
  Athena Parquet, one process from start to exit. Run at its fastest: FOCUS columns only
  (``--no-export-include-source-columns``; its default also copies every source column) and
  streaming 50k-row batches (``--parquet-data-format dataset``).
- **curlake**, in a process of its own measured the same way: ingestion of the same legacy
  files (``cost_line_items`` as its asset builds it: read, stage, gates, sorted publish,
  catalog), then the ``focus_1_2`` asset's work (read the lake, build, gate, publish,
  catalog), then ``transforms.focus.write_focus`` alone to one file. Ratio (a) is the peer's
  seconds over the ``focus_1_2`` stage's (a lake that already holds the month: curlake's
  normal case, since ingestion is shared by every table); ratio (b) is the peer's seconds over
  the curlake process less its extra ``write_focus`` stage (raw files to FOCUS, like for like
  with the peer, whose time also includes its interpreter start and imports).

The legacy month is written from the CUR 2.0 month itself (same rows, same widened
cardinalities), not generated again, and its unblended and net unblended totals are checked
against the CUR 2.0 files per line item type before anything is measured.

Process figures: wall seconds; CPU seconds from ``os.wait4`` (the child's own rusage, its reaped
worker processes included); memory from a sampler that reads ``/proc/<pid>/status`` of every
process of the tree every 0.2 s: the largest ``VmHWM`` of one process, and the largest sum of
``VmRSS`` (the converter writes through forked worker processes; their shared pages count once
per process, so the sum is an upper bound). Not used: ``ru_maxrss``, because a child started by
fork and exec keeps its parent's high-water mark (measured: a 100 MiB child of a parent that
had peaked at 1.5 GiB reports 1.5 GiB) and this parent has just written the legacy month; and
PSS from ``smaps_rollup``, which cost 67 ms of CPU per sample on a 2 GiB process (a third of a
core at this rate, taken from the processes measured) against 2 ms for ``status``.

Results go to ``bench/.cache/peer-<rows>.json``; ``render_peer`` turns them into the "Peer"
section that ``bench/run.py`` writes into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb

from bench import dataset
from transforms import duck, periods
from transforms.generate.cur2_schema import LEGACY_BASE_COLUMNS, athena_name
from transforms.sqlrunner import quote_identifier

REPO = Path(__file__).resolve().parents[1]
PEER_VENV = dataset.CACHE / "peer-venv"
PEER_REQUIREMENTS: tuple[str, ...] = ("focus-converter==1.0.0", "click==8.1.7", "multimethod<1.11")
# Bumped whenever the legacy writer changes, so a stale cache is rewritten rather than measured.
LEGACY_RECIPE = "legacy-athena-v1"
# The generator's legacy export name (transforms.generate DEFAULT_NAMES): <root>/legacy-cur/legacy-cur/year=Y/month=M/.
LEGACY_NAME = "legacy-cur"
# CUR 2.0 map columns -> the prefix of their one-column-per-key legacy form, and the column's kind.
LEGACY_MAP_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("resource_tags", "resource_tags_", "text"),
    ("product", "product_", "text"),
    ("cost_category", "cost_category_", "text"),
    ("discount", "discount_", "number"),
)
SAMPLE_SECONDS = 0.2


# --------------------------------------------------------------------------------- peer venv


def peer_problem(venv: Path = PEER_VENV) -> str | None:
    """Why the peer venv cannot be used as it is (None when it can): missing, broken or other versions."""
    python, exe = venv / "bin" / "python", venv / "bin" / "focus-converter"
    if not python.exists() or not exe.exists():
        return f"{exe} does not exist"
    probe = ("import importlib.metadata as m, focus_converter.main\n"
             "print(m.version('focus-converter'), m.version('click'), m.version('multimethod'))")
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"focus_converter does not import: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
    converter, click, multimethod = proc.stdout.split()
    if converter != "1.0.0" or click != "8.1.7" or _version_tuple(multimethod) >= (1, 11):
        return f"holds focus-converter {converter}, click {click}, multimethod {multimethod}; wanted {' '.join(PEER_REQUIREMENTS)}"
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    """'1.10' -> (1, 10): numeric parts up to the first that is not a number."""
    out = []
    for part in version.split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def _base_python() -> str:
    """A Python 3.11 to build the peer venv with (the peer's pins have wheels for it)."""
    candidates = [shutil.which("python3.11"), *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.11.*/bin/python3.11")))]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("no python3.11 on PATH or under ~/.pyenv/versions to build the peer venv with")


def ensure_peer_venv(venv: Path = PEER_VENV) -> Path:
    """The peer's ``focus-converter`` executable; the venv is (re)built only when ``peer_problem`` finds one."""
    problem = peer_problem(venv)
    if problem is None:
        return venv / "bin" / "focus-converter"
    print(f"peer venv {venv}: {problem}; building it", flush=True)
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS], check=True)
    problem = peer_problem(venv)
    if problem is not None:
        raise RuntimeError(f"peer venv {venv} still unusable after installing {' '.join(PEER_REQUIREMENTS)}: {problem}")
    return venv / "bin" / "focus-converter"


# ------------------------------------------------------------------------------ legacy month


def legacy_root(rows: int, widened: bool = True) -> Path:
    return dataset.CACHE / f"legacy-{rows}{'' if widened else '-plain'}"


def legacy_month_dir(root: Path, period: str) -> Path:
    """Where legacy CUR's Athena integration puts a month: ``<name>/<name>/year=YYYY/month=M``."""
    first = periods.first_day(period)
    return root / LEGACY_NAME / LEGACY_NAME / f"year={first.year}" / f"month={first.month}"


def _parquet_files(pattern: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no Parquet file matches {pattern}")
    return files


def map_keys(con: duckdb.DuckDBPyConnection, cur2_files: Sequence[str]) -> dict[str, list[str]]:
    """Distinct keys of each CUR 2.0 map column over the month (one streaming pass per column)."""
    out = {}
    for column, _, _ in LEGACY_MAP_COLUMNS:
        rows = con.execute(
            f"SELECT DISTINCT unnest(map_keys({quote_identifier(column)})) FROM read_parquet($files, hive_partitioning := false)",
            {"files": list(cur2_files)},
        ).fetchall()
        out[column] = sorted(k for (k,) in rows if k is not None)
    return out


def legacy_columns(keys: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """Legacy CUR Athena column name -> its expression over one CUR 2.0 row, and the key parameters.

    Scalar columns keep their names (legacy_cur_to_cur2.json: the same names) less the account
    names CUR 2.0 added; each map key becomes ``<prefix><athena_name(key)>``. Keys that land in
    one column (``user_team``, ``user_Team``) are merged as Athena does, first non-empty value in
    sorted key order. Text columns hold '' where a row lacks the key, as AWS writes them.
    """
    base = set(LEGACY_BASE_COLUMNS)
    columns = {c: quote_identifier(c) for c in LEGACY_BASE_COLUMNS}
    params: dict[str, str] = {}
    for column, prefix, kind in LEGACY_MAP_COLUMNS:
        groups: dict[str, list[str]] = {}
        for key in keys.get(column, []):
            name = athena_name(key)
            if not name:
                raise ValueError(f"{column} key {key!r} has no legacy column name (nothing left after athena_name)")
            groups.setdefault(prefix + name, []).append(key)
        for legacy, raw in sorted(groups.items()):
            if legacy in base:
                raise ValueError(f"{column} key(s) {raw} would become legacy column {legacy!r}, already a CUR 2.0 scalar column")
            lookups = []
            for key in sorted(raw):
                param = f"k{len(params)}"
                params[param] = key
                lookup = f"{quote_identifier(column)}[${param}]"
                lookups.append(f"NULLIF({lookup}, '')" if kind == "text" else lookup)
            columns[legacy] = f"coalesce({', '.join(lookups)}, '')" if kind == "text" else f"coalesce({', '.join(lookups)})"
    return columns, params


def legacy_select(keys: dict[str, list[str]]) -> tuple[str, dict[str, str]]:
    """The SELECT turning one CUR 2.0 file (``$file``) into legacy CUR Athena columns (``legacy_columns``)."""
    columns, params = legacy_columns(keys)
    select = ", ".join(f"{expr} AS {quote_identifier(name)}" for name, expr in columns.items())
    return f"SELECT {select} FROM read_parquet($file, hive_partitioning := false)", params


def write_legacy(con: duckdb.DuckDBPyConnection, cur2_files: Sequence[str], out_dir: Path) -> list[Path]:
    """Write each CUR 2.0 file as one legacy CUR Athena Parquet file (same rows, same order) under ``out_dir``.

    The column set is the month's (every map key of every file), as a legacy month has one schema.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    select, params = legacy_select(map_keys(con, cur2_files))
    written = []
    for number, source in enumerate(cur2_files, 1):
        target = out_dir / f"{LEGACY_NAME}-{number:05d}.snappy.parquet"
        partial = target.with_name(target.name + ".writing")
        con.execute(f"COPY ({select}) TO $target (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 500000)",
                    {**params, "file": source, "target": str(partial)})
        os.replace(partial, target)
        written.append(target)
    return written


def cost_totals(con: duckdb.DuckDBPyConnection, files: Sequence[str]) -> dict[str, dict[str, object]]:
    """Rows, unblended and net unblended cost per line item type (each cost rounded to 1e-10, summed exactly)."""
    rows = con.execute(
        "SELECT line_item_line_item_type, count(*), sum(CAST(line_item_unblended_cost AS DECIMAL(38, 10))), "
        "sum(CAST(line_item_net_unblended_cost AS DECIMAL(38, 10))) "
        "FROM read_parquet($files, hive_partitioning := false) GROUP BY ALL ORDER BY ALL",
        {"files": list(files)},
    ).fetchall()
    return {t: {"rows": n, "unblended": u, "net_unblended": net} for t, n, u, net in rows}


def check_same_costs(con: duckdb.DuckDBPyConnection, cur2_files: Sequence[str], legacy_files: Sequence[str]) -> dict[str, dict[str, object]]:
    """The legacy files' per-type totals, after checking that they equal the CUR 2.0 files' exactly."""
    cur2, legacy = cost_totals(con, cur2_files), cost_totals(con, legacy_files)
    for line_item_type in sorted(set(cur2) | set(legacy)):
        a, b = cur2.get(line_item_type), legacy.get(line_item_type)
        if a != b:
            raise ValueError(f"legacy month {legacy_files[0]}: line item type {line_item_type!r} totals {b} differ from "
                             f"the CUR 2.0 month's {a} ({cur2_files[0]})")
    return legacy


def ensure_legacy_month(rows: int, *, widened: bool = True, memory_limit: str = "4GB") -> Path:
    """The cached legacy CUR root of the ``rows`` benchmark month, written from its CUR 2.0 files if missing or stale.

    Stale means another recipe or other CUR 2.0 files (by name, size and mtime): a regenerated
    CUR 2.0 month is converted again.
    """
    cur2_root = dataset.ensure_month(rows, widened=widened, memory_limit=memory_limit)
    cur2_files = _parquet_files(str(cur2_root / "cur2" / "data" / "*" / "*.parquet"))
    source = [[os.path.basename(f), os.path.getsize(f), int(os.path.getmtime(f))] for f in cur2_files]
    root = legacy_root(rows, widened)
    marker = root / ".complete"
    if marker.exists():
        done = json.loads(marker.read_text())
        if done.get("recipe") == LEGACY_RECIPE and done.get("source") == source:
            return root
    if root.exists():
        shutil.rmtree(root)
    print(f"writing the {rows:,}-line-item month as legacy CUR Athena Parquet -> {root}", flush=True)
    t0 = time.perf_counter()
    con = duck.connect(memory_limit=memory_limit, s3=False)
    try:
        con.execute("SET enable_progress_bar = false")
        legacy = write_legacy(con, cur2_files, legacy_month_dir(root, dataset.PERIOD))
        seconds = time.perf_counter() - t0
        totals = check_same_costs(con, cur2_files, [str(p) for p in legacy])
    finally:
        con.close()
    marker.write_text(json.dumps({"recipe": LEGACY_RECIPE, "source": source, "write_s": seconds,
                                  "totals": totals}, indent=1, default=str))
    print(f"  written in {seconds:.0f} s; unblended and net unblended totals equal the CUR 2.0 month's per line item type", flush=True)
    return root


# ------------------------------------------------------------------------- process figures


@dataclass
class ProcessFigures:
    """One child process, start to exit."""

    seconds: float
    cpu_seconds: float
    # Largest peak RSS (VmHWM) of one process of the tree, sampled, bytes.
    peak_rss_bytes: int
    # Largest sampled sum of VmRSS over the process and its descendants, bytes.
    peak_tree_rss_bytes: int
    load_before: float
    load_after: float


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it (parents read from /proc/<pid>/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of one process in bytes; zeros once it has exited."""
    values = {"VmHWM:": 0, "VmRSS:": 0}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                name = line[:6]
                if name in values:
                    values[name] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return values["VmHWM:"], values["VmRSS:"]


class _TreeSampler(threading.Thread):
    """Samples a process tree until stopped: the largest one-process VmHWM and the largest VmRSS sum seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_hwm, self.peak_rss_sum = pid, 0, 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            tree = [_memory(p) for p in _descendants(self.pid)]
            self.peak_hwm = max([self.peak_hwm] + [hwm for hwm, _ in tree])
            self.peak_rss_sum = max(self.peak_rss_sum, sum(rss for _, rss in tree))

    def stop(self) -> tuple[int, int]:
        self._stop_event.set()
        self.join()
        return self.peak_hwm, self.peak_rss_sum


def measure_process(cmd: Sequence[str], *, log: Path, env: dict[str, str] | None = None) -> ProcessFigures:
    """Run ``cmd`` (output to ``log``) and measure it; a failure names the command and shows the log's tail."""
    load_before = os.getloadavg()[0]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        peak_hwm, peak_rss_sum = sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:3])} ... exited with {proc.returncode}; end of {log}:\n{tail}")
    return ProcessFigures(seconds=seconds, cpu_seconds=usage.ru_utime + usage.ru_stime, peak_rss_bytes=peak_hwm,
                          peak_tree_rss_bytes=peak_rss_sum, load_before=load_before, load_after=os.getloadavg()[0])


def _clean_env() -> dict[str, str]:
    """This environment without the variables that would point the peer's Python at ours."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


# ------------------------------------------------------------------------------- the runs


def peer_command(executable: Path, month_dir: Path, out_dir: Path) -> list[str]:
    return [str(executable), "convert", "--provider", "aws", "--data-format", "parquet", "--parquet-data-format", "dataset",
            "--data-path", str(month_dir), "--export-path", str(out_dir), "--no-export-include-source-columns"]


def curlake_child(source: str, lake: str, period: str, memory_limit: str, out: str, started: float) -> None:
    """In the measured curlake process: ingest, the focus_1_2 stage, then write_focus alone; figures to ``out`` (JSON)."""
    from bench.measure import stage
    from bench.pipeline import curated, ingest
    from orchestration.assets import focus  # noqa: F401  (declares the focus_1_2 CuratedTable)
    from orchestration.resources import CurlakeSettings
    from transforms import lake as lakes
    from transforms.focus import focus_relation, write_focus

    ready_s = time.time() - started
    settings = CurlakeSettings(source=source, lake=lake, allocation_config=str(REPO / "config" / "allocation.yaml"),
                               duckdb_memory_limit=memory_limit)
    stages = []
    with tempfile.TemporaryDirectory(prefix="curlake-peer-") as workdir, stage("cost_line_items") as figures:
        meta = ingest(settings, period, workdir=workdir)
        figures.rows = meta["rows"]
    stages.append(figures)
    with tempfile.TemporaryDirectory(prefix="curlake-peer-") as workdir, stage("focus_1_2") as figures:
        meta = curated(settings, "focus_1_2", period, workdir=workdir)
        figures.rows = meta["rows"]
    stages.append(figures)
    with tempfile.TemporaryDirectory(prefix="curlake-peer-") as workdir, stage("write_focus") as figures:
        con = duck.connect(memory_limit=memory_limit, temp_directory=os.path.join(workdir, "spill"), s3=False)
        try:
            con.execute(f"CREATE VIEW cost_line_items AS SELECT * FROM {lakes.read_partition_sql(lake, 'cost_line_items', period)}")
            figures.rows = write_focus(con, focus_relation(con, period), os.path.join(workdir, "focus.parquet"))
        finally:
            con.close()
    stages.append(figures)
    Path(out).write_text(json.dumps({"ready_s": ready_s, "stages": [asdict(s) for s in stages]}, default=str))


def billed_by_category(con: duckdb.DuckDBPyConnection, table_sql: str, params: dict | None = None) -> dict[str, dict[str, object]]:
    """Rows and BilledCost per ChargeCategory of a FOCUS relation (each cost rounded to 1e-10, summed exactly)."""
    rows = con.execute(f"SELECT ChargeCategory, count(*), sum(CAST(BilledCost AS DECIMAL(38, 10))) FROM {table_sql} GROUP BY ALL ORDER BY ALL",
                       params or {}).fetchall()
    return {c: {"rows": n, "billed": b} for c, n, b in rows}


def _total(by_category: dict[str, dict[str, object]]) -> Decimal:
    return sum((Decimal(v["billed"] or 0) for v in by_category.values()), Decimal(0))


def compare_billed(peer: dict[str, dict[str, object]], curlake: dict[str, dict[str, object]]) -> dict[str, object]:
    """Totals of both, their difference (curlake - peer) and whether they agree to the cent."""
    peer_total, curlake_total = _total(peer), _total(curlake)
    difference = curlake_total - peer_total
    return {"peer": peer_total, "curlake": curlake_total, "difference": difference,
            "agree_to_cent": abs(difference) < Decimal("0.005")}


def bench_peer(rows: int, *, widened: bool = True, memory_limit: str = "4GB", repeat: int = 1) -> dict:
    """Peer and curlake on the ``rows`` month; figures printed and written to bench/.cache/peer-<rows>.json.

    With ``repeat`` above 1 the two alternate that many times and each keeps its fastest run (the
    machine is shared: the slower runs measure the other engineers' load); every run is recorded.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    executable = ensure_peer_venv()
    root = ensure_legacy_month(rows, widened=widened, memory_limit=memory_limit)
    month_dir = legacy_month_dir(root, dataset.PERIOD)
    legacy_files = _parquet_files(str(month_dir / "*.parquet"))
    legacy_bytes = sum(os.path.getsize(f) for f in legacy_files)
    legacy_marker = json.loads((root / ".complete").read_text())
    suffix = f"{rows}{'' if widened else '-plain'}"
    print(f"\n== peer: {rows:,} line items as legacy CUR Parquet ({legacy_bytes / 2**20:,.0f} MiB), load {os.getloadavg()[0]:.1f}", flush=True)
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix=f"peer-{suffix}-", dir=dataset.CACHE) as tmp:
        work = Path(tmp)
        peer_out, lake, child_json = work / "peer-focus", work / "lake", work / "curlake.json"
        cmd = peer_command(executable, month_dir, peer_out)
        peer_runs: list[ProcessFigures] = []
        curlake_runs: list[tuple[ProcessFigures, dict]] = []
        for _ in range(repeat):
            shutil.rmtree(peer_out, ignore_errors=True)  # the converter adds files to an existing folder
            fig = measure_process(cmd, log=dataset.CACHE / f"peer-{suffix}-focus-converter.log", env=_clean_env())
            peer_runs.append(fig)
            print(f"  focus-converter: {fig.seconds:.1f} s, {fig.cpu_seconds:.1f} CPU s, "
                  f"peak RSS {fig.peak_rss_bytes / 2**20:,.0f} MiB (tree RSS sum {fig.peak_tree_rss_bytes / 2**20:,.0f} MiB), "
                  f"load {fig.load_before:.1f}", flush=True)
            shutil.rmtree(lake, ignore_errors=True)
            child = [sys.executable, "-m", "bench.peer", "curlake-child", "--source", str(root), "--lake", str(lake),
                     "--period", dataset.PERIOD, "--memory-limit", memory_limit, "--out", str(child_json), "--started", repr(time.time())]
            fig = measure_process(child, log=dataset.CACHE / f"peer-{suffix}-curlake.log")
            inner = json.loads(child_json.read_text())
            curlake_runs.append((fig, inner))
            stages = {s["name"]: s for s in inner["stages"]}
            print(f"  curlake process: {fig.seconds:.1f} s, {fig.cpu_seconds:.1f} CPU s (start and imports "
                  f"{inner['ready_s']:.1f} s, ingestion {stages['cost_line_items']['seconds']:.1f} s, focus_1_2 stage "
                  f"{stages['focus_1_2']['seconds']:.1f} s, write_focus alone {stages['write_focus']['seconds']:.1f} s), "
                  f"load {fig.load_before:.1f}", flush=True)
        peer_fig = min(peer_runs, key=lambda f: f.seconds)
        curlake_fig, inner = min(curlake_runs, key=lambda run: run[0].seconds)

        from transforms import lake as lakes

        con = duck.connect(memory_limit=memory_limit, s3=False)
        try:
            peer_by = billed_by_category(con, "read_parquet($files)", {"files": _parquet_files(str(peer_out / "*.parquet"))})
            curlake_by = billed_by_category(con, lakes.read_partition_sql(str(lake), "focus_1_2", dataset.PERIOD))
            curlake_types = con.execute(
                f"SELECT x_LineItemType, ChargeCategory, count(*), sum(BilledCost) "
                f"FROM {lakes.read_partition_sql(str(lake), 'focus_1_2', dataset.PERIOD)} GROUP BY ALL ORDER BY ALL").fetchall()
        finally:
            con.close()
        peer_bytes = sum(os.path.getsize(f) for f in glob.glob(str(peer_out / "*.parquet")))
    billed = compare_billed(peer_by, curlake_by)
    print(f"  BilledCost: peer {billed['peer']:.6f}, curlake {billed['curlake']:.6f}, difference {billed['difference']:+.6f} "
          f"({'agree' if billed['agree_to_cent'] else 'DIFFER'} to the cent)", flush=True)
    result = {
        "rows": rows, "widened": widened, "period": dataset.PERIOD, "date": date, "memory_limit": memory_limit,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "legacy": {"root": str(root.relative_to(REPO)), "files": len(legacy_files), "bytes": legacy_bytes,
                   "write_s": legacy_marker["write_s"], "totals_by_line_item_type": legacy_marker["totals"]},
        "repeat": repeat,
        "peer": {"requirements": list(PEER_REQUIREMENTS), "command": " ".join(cmd[1:]).replace(str(work), "<tmp>"),
                 "figures": asdict(peer_fig), "output_bytes": peer_bytes, "runs": [asdict(f) for f in peer_runs]},
        "curlake": {"figures": asdict(curlake_fig), "ready_s": inner["ready_s"], "stages": inner["stages"],
                    "runs": [{**asdict(f), "stages": i["stages"]} for f, i in curlake_runs]},
        "billed": {**billed, "peer_by_category": peer_by, "curlake_by_category": curlake_by,
                   "curlake_by_line_item_type": [{"line_item_type": t, "category": c, "rows": n, "billed": b}
                                                 for t, c, n, b in curlake_types]},
    }
    r = result["ratios"] = ratios(result)
    print(f"  ratio (a) peer / focus_1_2 stage: {r['focus_stage']:.2f}x wall, {r['focus_stage_cpu']:.2f}x CPU; "
          f"peer / write_focus alone: {r['write_focus']:.2f}x wall, {r['write_focus_cpu']:.2f}x CPU", flush=True)
    print(f"  ratio (b) peer / curlake process (ingestion + focus_1_2): {r['ingest_and_focus']:.2f}x wall, "
          f"{r['ingest_and_focus_cpu']:.2f}x CPU; with write_focus in place of the stage: {r['ingest_and_write_focus']:.2f}x "
          f"(target for curlake: 5x)", flush=True)
    (dataset.CACHE / f"peer-{suffix}.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def ratios(result: dict) -> dict[str, float]:
    """Peer seconds (wall, then CPU) over curlake's, each way; above 1 means curlake is faster.

    (a) ``focus_stage``: the focus_1_2 asset's work from an ingested lake; ``write_focus``: the
    export alone. (b) ``ingest_and_focus``: the curlake process less its extra write_focus stage
    (start, imports, ingestion, focus_1_2, exit); ``ingest_and_write_focus``: the same with
    write_focus in place of the focus_1_2 stage.
    """
    peer, process = result["peer"]["figures"], result["curlake"]["figures"]
    stages = {s["name"]: s for s in result["curlake"]["stages"]}
    focus, bare = stages["focus_1_2"], stages["write_focus"]
    out = {}
    for suffix, key in (("", "seconds"), ("_cpu", "cpu_seconds")):
        out["focus_stage" + suffix] = peer[key] / focus[key]
        out["write_focus" + suffix] = peer[key] / bare[key]
        out["ingest_and_focus" + suffix] = peer[key] / (process[key] - bare[key])
        out["ingest_and_write_focus" + suffix] = peer[key] / (process[key] - focus[key])
    return out


# ------------------------------------------------------------------------------ rendering


def load_results() -> list[dict]:
    """Every bench/.cache/peer-*.json, smallest month first."""
    found = [json.loads(Path(p).read_text()) for p in glob.glob(str(dataset.CACHE / "peer-*.json"))]
    return sorted(found, key=lambda r: (r["rows"], r["widened"]))


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def render_peer(results: list[dict]) -> str:
    """The "Peer" section of BENCHMARKS.md: speed per month size, then memory and the billed-cost check."""
    if not results:
        return ""
    lines = [
        "### Peer: focus-converter 1.0.0 vs curlake's FOCUS export",
        "",
        "Same month as legacy CUR Athena Parquet (its unblended and net unblended totals checked equal to the CUR 2.0 "
        "month's per line item type). Peer: `focus-converter convert --provider aws --data-format parquet "
        "--parquet-data-format dataset --no-export-include-source-columns`, one process. curlake: one process, "
        "ingestion of the same files then the `focus_1_2` asset's work (build, gate, sorted publish, catalog), then "
        "`write_focus` alone (not counted in (b)). Ratios: peer seconds / curlake seconds, wall (CPU); target 5x "
        "or more. (a) the `focus_1_2` stage from an ingested lake; (b) raw files to FOCUS, the whole process. "
        "CPU s: every thread and child process. Peak memory: largest one-process VmHWM / largest VmRSS sum of the "
        "process tree (an upper bound: forked workers share pages), sampled every 0.2 s. Load: 1-minute load average when the peer / curlake started.",
        "",
        "| line items | load | peer s (CPU s) | focus_1_2 stage s (CPU s) | **(a)** | write_focus alone s (CPU s) | ratio "
        "| curlake process s (CPU s) | of which ingestion s | **(b)** |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p, c = r["peer"]["figures"], r["curlake"]["figures"]
        s = {x["name"]: x for x in r["curlake"]["stages"]}
        focus, bare = s["focus_1_2"], s["write_focus"]
        x = ratios(r)
        best = f", best of {r['repeat']}" if r.get("repeat", 1) > 1 else ""
        lines.append(
            f"| {r['rows']:,}{'' if r['widened'] else ' (plain)'}{best} | {p['load_before']:.1f} / {c['load_before']:.1f} "
            f"| {p['seconds']:.2f} ({p['cpu_seconds']:.1f}) | {focus['seconds']:.2f} ({focus['cpu_seconds']:.1f}) "
            f"| **{x['focus_stage']:.2f}x** ({x['focus_stage_cpu']:.2f}x) | {bare['seconds']:.2f} ({bare['cpu_seconds']:.1f}) "
            f"| {x['write_focus']:.2f}x ({x['write_focus_cpu']:.2f}x) "
            f"| {c['seconds'] - bare['seconds']:.2f} ({c['cpu_seconds'] - bare['cpu_seconds']:.1f}) | {s['cost_line_items']['seconds']:.2f} "
            f"| **{x['ingest_and_focus']:.2f}x** ({x['ingest_and_focus_cpu']:.2f}x) |"
        )
    lines += [
        "",
        "| line items | measured | peer peak MiB | curlake peak MiB | peer BilledCost | curlake BilledCost | curlake - peer | to the cent |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        p, c, b = r["peer"]["figures"], r["curlake"]["figures"], r["billed"]
        lines.append(
            f"| {r['rows']:,} | {r['date']} | {_mib(p['peak_rss_bytes'])} / {_mib(p['peak_tree_rss_bytes'])} "
            f"| {_mib(c['peak_rss_bytes'])} / {_mib(c['peak_tree_rss_bytes'])} | {Decimal(b['peer']):,.6f} "
            f"| {Decimal(b['curlake']):,.6f} | {Decimal(b['difference']):+.6f} | {'agree' if b['agree_to_cent'] else '**differ**'} |"
        )
    lines.append("")
    for r in results:
        s = {x["name"]: x for x in r["curlake"]["stages"]}
        focus, bare = s["focus_1_2"], s["write_focus"]
        lines.append(
            f"{r['rows']:,}: bytes through read()/write() (files, DuckDB staging database, spill): `focus_1_2` stage "
            f"{_mib(focus['read_bytes'])} MiB read, {_mib(focus['written_bytes'])} MiB written; `write_focus` alone "
            f"{_mib(bare['read_bytes'])} MiB read, {_mib(bare['written_bytes'])} MiB written; peer output "
            f"{_mib(r['peer']['output_bytes'])} MiB."
        )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command")
    child = sub.add_parser("curlake-child", help="internal: the measured curlake process")
    for name in ("--source", "--lake", "--period", "--memory-limit", "--out"):
        child.add_argument(name, required=True)
    child.add_argument("--started", type=float, required=True, help="time.time() when the parent started the process")
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--plain", action="store_true", help="the generator's own org (skip widening)")
    p.add_argument("--memory-limit", default=os.environ.get("CURLAKE_DUCKDB_MEMORY_LIMIT", "4GB"))
    p.add_argument("--repeat", type=int, default=1, help="alternate peer and curlake N times, keep each one's fastest run")
    p.add_argument("--no-write", action="store_true", help="do not rewrite the figures section of BENCHMARKS.md")
    args = p.parse_args(argv)
    if args.command == "curlake-child":
        curlake_child(args.source, args.lake, args.period, args.memory_limit, args.out, args.started)
        return 0
    for rows in args.rows:
        bench_peer(rows, widened=not args.plain, memory_limit=args.memory_limit, repeat=args.repeat)
        if not args.no_write:
            from bench.run import write_benchmarks

            write_benchmarks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
