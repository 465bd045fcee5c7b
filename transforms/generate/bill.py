"""``generate``: write a synthetic AWS bill (and its business drivers) for a list of months."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from transforms import periods, storage
from transforms.generate import business, org
from transforms.generate.month_plan import MIN_ROWS_PER_MONTH, plan_month
from transforms.generate.pool import StreamPool
from transforms.generate.rows import MonthRows, RowBatch
from transforms.generate.writers import WRITERS, GeneratedFile, write_bytes, write_manifest

FORMATS: tuple[str, ...] = tuple(WRITERS)
DEFAULT_NAMES: dict[str, str] = {"cur2-parquet": "cur2", "cur2-csv": "cur2", "legacy-parquet": "legacy-cur"}
MAX_ROWS_PER_MONTH = 1_000_000_000
BATCH_ROWS = 500_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class GenerationResult:
    """What ``generate`` wrote: data files (with rows and bytes), manifests and side files."""

    root: str
    fmt: str
    export_name: str
    seed: int
    files: list[GeneratedFile] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    rows_per_month: dict[str, int] = field(default_factory=dict)
    anomalies_path: str = ""
    business_metrics_paths: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.rows_per_month.values())

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def generate(
    out: str,
    months: list[str],
    rows_per_month: int,
    seed: int = 42,
    fmt: str = "cur2-parquet",
    export_name: str | None = None,
    anomalies: bool = True,
    business_metrics: bool = True,
) -> GenerationResult:
    """Write ``rows_per_month`` line items for each month of ``months`` under ``out``.

    Layouts are those of docs/CONTRACTS.md. The same arguments always produce byte-identical
    files. Months are generated in calendar order; the first one has the oldest schema (legacy
    CUR drifts: a product attribute disappears and a tag key appears from the second month).
    """
    began = time.perf_counter()
    months = _validate(out, months, rows_per_month, seed, fmt, export_name)
    name = export_name or DEFAULT_NAMES[fmt]
    fs = storage.filesystem(out)
    result = GenerationResult(root=out, fmt=fmt, export_name=name, seed=seed)
    pool = StreamPool(seed)
    labeled: list[dict[str, object]] = []
    team_day: dict[str, np.ndarray] = {}
    team_service: dict[str, np.ndarray] = {}
    for position, period in enumerate(months):
        plan = plan_month(pool, period, position, rows_per_month, seed, anomalies)
        month = MonthRows(plan, seed)
        writer = WRITERS[fmt](fs, out, name, month)
        for batch in _ahead(month.batches(BATCH_ROWS)):
            writer.write(batch)
        files = writer.close()
        written = sum(f.rows for f in files)
        if written != rows_per_month:
            raise AssertionError(f"{period}: wrote {written} rows, expected {rows_per_month}")
        result.files.extend(files)
        result.rows_per_month[period] = written
        if fmt.startswith("cur2"):
            delivery = f"seed={seed}|rows={rows_per_month}|anomalies={anomalies}|month={position + 1}/{len(months)}"
            result.manifests.append(write_manifest(fs, out, name, period, files, fmt, delivery))
        labeled.extend(_anomaly_records(plan, month))
        team_day[period] = month.team_day_amortized
        team_service[period] = month.team_service_amortized
    # Written even when empty, so that a re-generation without anomalies leaves no stale labels.
    result.anomalies_path = storage.join(out, "anomalies.json")
    write_bytes(fs, result.anomalies_path, json.dumps({"anomalies": labeled}, indent=2).encode())
    if business_metrics:
        for filename, text in (
            ("metrics_daily.csv", business.metrics_daily(months, team_day, seed)),
            ("budgets.csv", business.budgets(months, team_service, seed)),
        ):
            path = storage.join(out, "business_metrics", filename)
            write_bytes(fs, path, text.encode())
            result.business_metrics_paths.append(path)
    result.seconds = time.perf_counter() - began
    return result


def _ahead(batches: Iterator[RowBatch]) -> Iterator[RowBatch]:
    """Build the next batch in a thread while the caller writes this one.

    Row building (numpy) and Parquet encoding (Arrow C++) both release the GIL, so on two cores
    the month takes about as long as its writing alone. One batch is built ahead, no more.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        """Hand ``item`` over unless the consumer has stopped; False once it has."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(done)
        except BaseException as error:  # handed to the consumer, which re-raises it
            offer(error)

    worker = threading.Thread(target=produce, name="curlake-generate-rows", daemon=True)
    worker.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _validate(out: str, months: list[str], rows: int, seed: int, fmt: str, export_name: str | None) -> list[str]:
    """The months in calendar order, once every argument is known to be usable."""
    if fmt not in WRITERS:
        raise ValueError(f"fmt={fmt!r} is not one of {', '.join(FORMATS)}")
    if not str(out):
        raise ValueError("out must be a local directory or an s3://bucket/prefix URL")
    if export_name is not None and not _NAME.match(export_name):
        raise ValueError(f"export_name={export_name!r} must be 1-128 letters, digits, '.', '_' or '-'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)):
        raise TypeError(f"rows_per_month must be an integer, got {type(rows).__name__}")
    if not MIN_ROWS_PER_MONTH <= rows <= MAX_ROWS_PER_MONTH:
        raise ValueError(f"rows_per_month={rows:,} is outside {MIN_ROWS_PER_MONTH:,}..{MAX_ROWS_PER_MONTH:,}")
    if isinstance(months, str) or not months:
        raise ValueError("months must be a non-empty list of 'YYYY-MM' billing periods")
    checked = [periods.validate(m) for m in months]
    duplicates = sorted({m for m in checked if checked.count(m) > 1})
    if duplicates:
        raise ValueError(f"months lists {', '.join(duplicates)} more than once")
    return sorted(checked)


def _anomaly_records(plan, month: MonthRows) -> list[dict[str, object]]:
    first = periods.first_day(plan.period)
    out = []
    for spec, extra in zip(plan.anomalies, month.anomaly_extra.tolist()):
        out.append({
            "id": spec.id,
            "billing_period": plan.period,
            "team": org.TEAMS[spec.team].name,
            "service_code": spec.service_code,
            "usage_account_id": org.ACCOUNTS[spec.account].account_id,
            "start_date": (first + timedelta(days=spec.start_day)).isoformat(),
            "end_date": (first + timedelta(days=spec.start_day + spec.days - 1)).isoformat(),
            "extra_unblended_cost": round(extra, 6),
            "resource_ids": list(spec.resource_ids),
        })
    return out


__all__ = ["FORMATS", "GeneratedFile", "GenerationResult", "generate"]
