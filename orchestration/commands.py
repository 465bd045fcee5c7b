"""The functions behind `curlake query` and `curlake report`.

Neither imports dagster, and `query` not matplotlib either: a query answers in a fraction of a
second, not after the orchestrator has loaded. ``register(sub)`` adds both commands to the CLI's subparsers.

`curlake query "SQL"` runs against ``<lake>/catalog.duckdb``, opened read-only (the pipeline may
publish meanwhile: the catalog is a consistent snapshot). It prints the first rows as a table, or
with ``--out FILE.csv|FILE.parquet`` streams every row into the file. `curlake report --team T
--month YYYY-MM` writes one showback page.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import TextIO

import duckdb

from transforms.catalog import open_catalog
from transforms.lake import LakeError

REPO_ROOT = Path(__file__).resolve().parents[1]
# The same default as CurlakeSettings.lake (orchestration/resources.py), read without importing dagster.
DEFAULT_LAKE = os.environ.get("CURLAKE_LAKE", str(REPO_ROOT / ".demo" / "lake"))
DEFAULT_MAX_ROWS = 40
OUTPUT_FORMATS = {".csv": "csv", ".parquet": "parquet"}


class CommandError(Exception):
    """A command that cannot run as asked; its message is printed without a traceback."""


def output_format(path: str, fmt: str | None) -> str:
    """The format to write ``path`` in: ``fmt`` if given, else from the file extension."""
    if fmt:
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise CommandError(f"cannot tell the format of {path!r} from its extension: name it .csv or .parquet, or pass --format")
    return OUTPUT_FORMATS[ext]


def run_query(lake: str, sql: str, *, out: str | None = None, fmt: str | None = None,
              max_rows: int = DEFAULT_MAX_ROWS, stdout: TextIO | None = None) -> int:
    """Run ``sql`` on the lake's catalog; print up to ``max_rows`` rows, or write all rows to ``out``.

    Several statements may be given (``SET threads = 1; SELECT ...``): all run, the last one's
    rows are the result. Returns the number of rows printed or written.
    """
    stdout = stdout or sys.stdout
    if max_rows < 1:
        raise CommandError(f"--max-rows must be at least 1, got {max_rows}")
    con = open_catalog(lake)
    try:
        statements = con.extract_statements(sql)
        if not statements:
            raise CommandError("the query is empty")
        for statement in statements[:-1]:
            con.execute(statement.query)
        last = statements[-1].query.strip().rstrip(";")
        if out:
            kind = output_format(out, fmt)
            if statements[-1].type != duckdb.StatementType.SELECT:
                raise CommandError(f"--out needs a query that returns rows; the last statement is a {statements[-1].type.name}")
            option = "FORMAT csv, HEADER" if kind == "csv" else "FORMAT parquet, COMPRESSION zstd"
            # Newlines around the query: a trailing "-- comment" must not swallow the parenthesis.
            (written,) = con.execute(f"COPY (\n{last}\n) TO $path ({option})", {"path": out}).fetchone()
            print(f"Wrote {written:,} rows to {out}", file=stdout)
            return int(written)
        rel = con.sql(last)
        if rel is None:
            print("OK", file=stdout)
            return 0
        head = rel.limit(max_rows + 1).fetch_arrow_table()
        shown = head.slice(0, max_rows)
        # A terminal gets a table that fits it; a pipe or file gets every column.
        width = shutil.get_terminal_size().columns if stdout.isatty() else 100_000
        with contextlib.redirect_stdout(stdout):
            con.from_arrow(shown).show(max_rows=max_rows, max_width=width)
        if head.num_rows > max_rows:
            print(f"(first {max_rows} rows; the query returns more: raise --max-rows, or write them all with "
                  "--out FILE.csv or FILE.parquet)", file=stdout)
        return shown.num_rows
    finally:
        con.close()


def cmd_query(args: argparse.Namespace) -> int:
    try:
        run_query(args.lake, args.sql, out=args.out, fmt=args.format, max_rows=args.max_rows)
    except (CommandError, LakeError, duckdb.Error) as exc:
        print(f"curlake query: {exc}", file=sys.stderr)
        return 1
    return 0


def make_report_file(lake: str, team: str, month: str, out: str | None = None) -> str:
    """Write the showback report of ``team`` for ``month``; return where (default ``showback-<team>-<month>.html``)."""
    from transforms import periods
    from transforms.report import make_report, open_lake, write_text

    month = periods.validate(month)
    target = out or f"showback-{team}-{month}.html"
    con = open_lake(lake)
    try:
        report = make_report(con, team, month)
    finally:
        con.close()
    write_text(target, report.html)
    return target


def cmd_report(args: argparse.Namespace) -> int:
    from transforms.periods import PeriodError
    from transforms.report import ReportError

    try:
        path = make_report_file(args.lake, args.team, args.month, args.out)
    except (ReportError, PeriodError, LakeError, duckdb.Error) as exc:
        print(f"curlake report: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote the showback report of {args.team} for {args.month} to {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add `query` and `report` to the CLI's subcommands."""
    q = sub.add_parser("query", help="run SQL on the lake's catalog; print a table or write CSV/Parquet")
    q.add_argument("sql", help='SQL text, e.g. "SELECT * FROM cost_by_team_month"')
    q.add_argument("--lake", default=DEFAULT_LAKE, help="lake root: local folder or s3://bucket/prefix (default: $CURLAKE_LAKE or .demo/lake)")
    q.add_argument("--out", help="write every row to this file instead of printing (.csv or .parquet)")
    q.add_argument("--format", choices=sorted(set(OUTPUT_FORMATS.values())), help="format of --out (default: from its extension)")
    q.add_argument("--max-rows", type=int, default=DEFAULT_MAX_ROWS, help=f"rows to print (default {DEFAULT_MAX_ROWS})")
    q.set_defaults(func=cmd_query)

    r = sub.add_parser("report", help="write the showback report of a team for a month (self-contained HTML)")
    r.add_argument("--team", required=True)
    r.add_argument("--month", required=True, help="YYYY-MM")
    r.add_argument("--lake", default=DEFAULT_LAKE, help="lake root (default: $CURLAKE_LAKE or .demo/lake)")
    r.add_argument("--out", help="HTML file to write (default: showback-<team>-<month>.html)")
    r.set_defaults(func=cmd_report)
