"""The `curlake` command: generate sample data, materialize through Dagster, run the demo."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def _ensure_dagster_home() -> Path:
    """DAGSTER_HOME defaults to <repo>/.dagster_home, holding a copy of the repo's dagster.yaml."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    src = REPO_ROOT / "dagster.yaml"
    dst = home / "dagster.yaml"
    if src.exists() and (not dst.exists() or dst.read_bytes() != src.read_bytes()):
        shutil.copyfile(src, dst)
    return home


def cmd_generate(args: argparse.Namespace) -> int:
    from transforms import periods
    from transforms.generate import generate

    months = periods.parse_range(args.months)
    t0 = time.perf_counter()
    result = generate(args.out, months, args.rows_per_month, seed=args.seed, fmt=args.format)
    secs = time.perf_counter() - t0
    total = sum(result.rows_per_month.values())
    print(f"Wrote {total:,} line items for {len(months)} month(s) to {args.out} as {args.format} "
          f"in {secs:.1f} s ({total / max(secs, 1e-9):,.0f} rows/s).")
    return 0


def cmd_materialize(args: argparse.Namespace) -> int:
    from orchestration.run import materialize_periods, print_summary

    _ensure_dagster_home()
    months = None
    if args.months:
        from transforms import periods

        months = periods.parse_range(args.months)
    outcome = materialize_periods(args.source, args.lake, months, allocation_config=args.allocation_config)
    print_summary(outcome, args.lake)
    return 0 if outcome.success else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.run import materialize_periods, print_summary
    from transforms.generate import generate

    home = _ensure_dagster_home()
    root = Path(args.dir).resolve()
    source, lake = root / "source", root / "lake"
    months = ["2025-01", "2025-02", "2025-03"]
    if args.fresh and root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    if not (source / ".complete").exists():
        print(f"Generating a sample AWS bill: {len(months)} months x {args.rows_per_month:,} line items -> {source}")
        if source.exists():
            shutil.rmtree(source)
        generate(str(source), months, args.rows_per_month, seed=args.seed, fmt="cur2-parquet")
        (source / ".complete").write_text("generated\n")
    t_gen = time.perf_counter() - t0
    print(f"Materializing every asset through Dagster (instance: {home}) ...")
    t1 = time.perf_counter()
    outcome = materialize_periods(str(source), str(lake), months)
    t_mat = time.perf_counter() - t1
    print_summary(outcome, str(lake))
    print(f"\nTimings: generate {t_gen:.1f} s, materialize {t_mat:.1f} s, peak RSS {_peak_rss_mib():,.0f} MiB.")
    print("Open the Dagster UI to see assets, partitions, checks and these runs:  make ui  "
          "(then http://127.0.0.1:3000)")
    return 0 if outcome.success else 1


def cmd_ui(args: argparse.Namespace) -> int:
    _ensure_dagster_home()
    cmd = [sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions",
           "-h", args.host, "-p", str(args.port)]
    os.chdir(REPO_ROOT)
    os.execv(sys.executable, cmd)
    return 0


def _peak_rss_mib() -> float:
    import resource

    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return self_kib / 1024


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="curlake", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic AWS Cost and Usage Report export")
    g.add_argument("--out", required=True, help="local folder or s3://bucket/prefix")
    g.add_argument("--months", required=True, help="YYYY-MM or YYYY-MM:YYYY-MM")
    g.add_argument("--rows-per-month", type=int, default=100_000)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--format", default="cur2-parquet", choices=["cur2-parquet", "cur2-csv", "legacy-parquet"])
    g.set_defaults(func=cmd_generate)

    m = sub.add_parser("materialize", help="materialize every asset for the billing periods found in --source")
    m.add_argument("--source", required=True, help="export root: local folder or s3://bucket/prefix")
    m.add_argument("--lake", required=True, help="lake root: local folder or s3://bucket/prefix")
    m.add_argument("--months", help="YYYY-MM or YYYY-MM:YYYY-MM (default: every period found)")
    m.add_argument("--allocation-config", help="allocation rules (default: config/allocation.yaml)")
    m.set_defaults(func=cmd_materialize)

    d = sub.add_parser("demo", help="generate a sample, materialize everything, print a summary")
    d.add_argument("--dir", default=str(REPO_ROOT / ".demo"))
    d.add_argument("--rows-per-month", type=int, default=1_000_000)
    d.add_argument("--seed", type=int, default=42)
    d.add_argument("--fresh", action="store_true", help="regenerate the sample even if present")
    d.set_defaults(func=cmd_demo)

    u = sub.add_parser("ui", help="start the Dagster UI (binds to localhost unless --host is given)")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)

    from orchestration import commands

    commands.register(sub)  # query, report

    from orchestration import commands_lake

    v = sub.add_parser("versions", help="list the retained versions of a billing period's tables")
    v.add_argument("--lake", required=True)
    v.add_argument("--month", required=True, help="YYYY-MM")
    v.add_argument("--table", action="append", help="only this table (repeatable)")
    v.set_defaults(func=commands_lake.cmd_versions)

    r = sub.add_parser("rollback", help="swap a billing period's tables back to their previous (or a named) version")
    r.add_argument("--lake", required=True)
    r.add_argument("--month", required=True, help="YYYY-MM")
    r.add_argument("--table", action="append", help="only this table (repeatable; default: every table)")
    r.add_argument("--version", help="the version to restore (default: the one before the current)")
    r.set_defaults(func=commands_lake.cmd_rollback)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
