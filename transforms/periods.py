"""Billing periods: 'YYYY-MM' strings, validated before they become partition keys or paths."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class PeriodError(ValueError):
    pass


def validate(period: str) -> str:
    """Return ``period`` if it is a 'YYYY-MM' billing period, else raise PeriodError."""
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise PeriodError(f"billing period {period!r} is not of the form YYYY-MM (e.g. 2025-01)")
    return period


def parse_range(spec: str) -> list[str]:
    """'2025-01:2025-03' -> ['2025-01', '2025-02', '2025-03']; '2025-02' -> ['2025-02']."""
    start, _, end = spec.partition(":")
    start = validate(start.strip())
    end = validate(end.strip()) if end else start
    if end < start:
        raise PeriodError(f"month range {spec!r} ends before it starts")
    out, cur = [], start
    while cur <= end:
        out.append(cur)
        cur = next_period(cur)
    return out


def next_period(period: str) -> str:
    y, m = (int(x) for x in validate(period).split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def previous_period(period: str, months: int = 1) -> str:
    """The billing period ``months`` before ``period`` ('2025-01' -> '2024-12')."""
    y, m = (int(x) for x in validate(period).split("-"))
    index = y * 12 + (m - 1) - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_day(period: str) -> date:
    y, m = (int(x) for x in validate(period).split("-"))
    return date(y, m, 1)


def days_in(period: str) -> int:
    return (first_day(next_period(period)) - first_day(period)).days


def of(moment: date | datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def days(period: str) -> list[date]:
    d0 = first_day(period)
    return [d0 + timedelta(days=i) for i in range(days_in(period))]
