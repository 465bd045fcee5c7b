"""Per-stage figures: wall seconds, peak resident memory, bytes read and written, load average.

Peak RSS per stage, not per process: on Linux, writing ``5`` to ``/proc/self/clear_refs`` resets
the kernel's high-water mark (``VmHWM``), so each stage reads its own peak. Bytes come from
``/proc/self/io``: ``rchar``/``wchar`` count every byte passed through read()/write() (Parquet
in, Parquet out, DuckDB spill and its staging database), page cache or not.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StageFigures:
    name: str
    seconds: float = 0.0
    # CPU seconds of every thread: the figure the other engineers' load on the machine disturbs least.
    cpu_seconds: float = 0.0
    rows: int = 0
    peak_rss_bytes: int = 0
    read_bytes: int = 0
    written_bytes: int = 0
    load_average: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _proc_io() -> tuple[int, int]:
    values = {}
    with open("/proc/self/io") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            values[key] = int(value)
    return values["rchar"], values["wchar"]


def _vm_hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("/proc/self/status has no VmHWM line")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


@contextmanager
def stage(name: str) -> Iterator[StageFigures]:
    """Measure the block; the caller sets ``rows`` (and notes) on the yielded figures."""
    figures = StageFigures(name)
    _reset_hwm()
    r0, w0 = _proc_io()
    c0 = _cpu()
    t0 = time.perf_counter()
    try:
        yield figures
    finally:
        figures.seconds = time.perf_counter() - t0
        figures.cpu_seconds = _cpu() - c0
        r1, w1 = _proc_io()
        figures.read_bytes, figures.written_bytes = r1 - r0, w1 - w0
        figures.peak_rss_bytes = _vm_hwm()
        figures.load_average = os.getloadavg()[0]


def gib(n: int) -> float:
    return n / (1 << 30)


def mib(n: int) -> float:
    return n / (1 << 20)
