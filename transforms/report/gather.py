"""Gather what the showback reports show, for a month's teams, from the lake's tables.

The results are small aggregates (a month of days, a dozen services, a few pools per team): DuckDB
scans and sums each table once for all the teams, Python receives tens of rows per team.
``cost_allocation`` is required; every other input may be absent (a lake being built, a table
not produced yet), and its section then says so instead of failing the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from transforms import duck, lake as lake_io, periods
from transforms.report import queries

TREND_MONTHS = 12
MAX_RECOMMENDATIONS = 10


class ReportError(ValueError):
    """The report cannot be made: unknown team or month, missing cost_allocation, mixed currencies."""


Row = dict[str, Any]


@dataclass
class ShowbackData:
    """Everything a showback report for one team and month shows (amortized cost basis)."""

    team: str
    period: str
    previous: str
    currency: str
    products: list[str]
    cost_centers: list[str]
    last_day: date
    monthly: list[Row]
    daily: list[Row]
    services: list[Row]
    direct_by_method: list[Row]
    # None: the input table is absent from the lake.
    shared_sources: list[Row] | None
    unit_daily: list[Row] | None
    unit_monthly: list[Row] | None
    budget: list[Row] | None
    accuracy: list[Row] | None
    anomalies: list[Row] | None
    credit_components: list[Row] | None
    credit_weeks: list[Row] | None
    recommendations: list[Row] | None

    @property
    def direct(self) -> Decimal:
        return sum((r["direct"] for r in self.daily), Decimal(0))

    @property
    def shared(self) -> Decimal:
        return sum((r["shared"] for r in self.daily), Decimal(0))

    @property
    def total(self) -> Decimal:
        return self.direct + self.shared

    @property
    def previous_total(self) -> Decimal | None:
        """Allocated cost of the previous month; None when the lake has no cost for the team then."""
        for r in self.monthly:
            if r["billing_period"] == self.previous:
                return r["direct"] + r["shared"]
        return None

    @property
    def team_budget(self) -> Row | None:
        return next((r for r in self.budget or [] if r["scope"] == "team"), None)

    @property
    def credit(self) -> Row | None:
        """The month's composite score, previous and change (the same on every component row)."""
        return self.credit_components[0] if self.credit_components else None


previous_period = periods.previous_period


def open_lake(lake: str, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per lake table over its current, pinned files.

    Pinned files (``lake.read_partition_sql``) give one consistent version per partition while
    the pipeline publishes; unlike the catalog, this needs no catalog rebuild to see new tables.
    """
    con = duck.connect(memory_limit=memory_limit)
    try:
        for table in lake_io.list_tables(lake):
            con.execute(f"CREATE VIEW {lake_io.quote_identifier(table)} AS SELECT * FROM {lake_io.read_partition_sql(lake, table)}")
    except Exception:
        con.close()
        raise
    return con


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Names of the tables and views the connection can read."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[Row]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def available_months(con: duckdb.DuckDBPyConnection) -> list[str]:
    _require(con, "cost_allocation")
    return [r["billing_period"] for r in _rows(con, queries.MONTHS)]


def check_month(con: duckdb.DuckDBPyConnection, period: str) -> str:
    """``period`` if the lake has allocated cost for it, else a ReportError listing the months it has."""
    months = available_months(con)
    if periods.validate(period) not in months:
        raise ReportError(f"no allocated cost for billing period {period}; months in the lake: {', '.join(months) or 'none'}")
    return period


def teams(con: duckdb.DuckDBPyConnection, period: str) -> list[str]:
    """Teams with allocated cost in ``period`` (unallocated cost has no team to report to)."""
    _require(con, "cost_allocation")
    return [r["team"] for r in _rows(con, queries.TEAMS, period=periods.validate(period))]


def _require(con: duckdb.DuckDBPyConnection, table: str) -> None:
    if table not in relations(con):
        raise ReportError(f"the lake has no {table} table: materialize it before making reports")


def month_overview(con: duckdb.DuckDBPyConnection, period: str) -> list[Row]:
    """Every team's allocated cost of the month, with its budget, forecast and status where known."""
    period = periods.validate(period)
    _require(con, "cost_allocation")
    rows = _rows(con, queries.MONTH_COST, period=period)
    if "budget_variance" in relations(con):
        budgets = {r["team"]: r for r in _rows(con, queries.MONTH_BUDGETS, period=period)}
    else:
        budgets = {}
    for r in rows:
        b = budgets.get(r["team"], {})
        r.update(budget=b.get("budget"), forecast=b.get("forecast"), status=b.get("status"))
    return rows


def gather(con: duckdb.DuckDBPyConnection, team: str, period: str) -> ShowbackData:
    """The report data of ``team`` in ``period``; ReportError naming what is known if either is unknown."""
    return gather_teams(con, period, [team])[team]


def gather_teams(con: duckdb.DuckDBPyConnection, period: str, wanted: Sequence[str] | None = None) -> dict[str, ShowbackData]:
    """The report data of each team of ``wanted`` (default: every team with cost) in ``period``.

    Each section is one query for all the teams, split here by team: a month's reports cost the
    same dozen-odd small scans whether the organization has 3 teams or 300. ReportError naming what
    is known if the month or a team is unknown, or if the month is billed in several currencies.
    """
    period = check_month(con, period)
    known = teams(con, period)
    wanted = known if wanted is None else list(wanted)
    unknown = [team for team in wanted if team not in known]
    if unknown:
        raise ReportError(f"team {unknown[0]!r} has no allocated cost in {period}; teams with cost then: {', '.join(known)}")
    currencies = [r["currency"] for r in _rows(con, queries.CURRENCIES, period=period)]
    if len(currencies) != 1:
        raise ReportError(f"{period} is billed in {len(currencies)} currencies ({', '.join(currencies)}): "
                          "a showback report adds costs up and needs one")
    have = relations(con)
    previous, first = previous_period(period), previous_period(period, TREND_MONTHS - 1)
    scope = {"teams": wanted, "period": period}

    def section(sql: str, **params: Any) -> dict[str, list[Row]]:
        return _by_team(_rows(con, sql, **scope, **params), wanted)

    def optional(table: str, sql: str, **params: Any) -> dict[str, list[Row] | None]:
        return section(sql, **params) if table in have else dict.fromkeys(wanted)

    owners = section(queries.OWNER)
    sections = {
        "monthly": section(queries.MONTHLY, first=first),
        "daily": section(queries.DAILY),
        "services": section(queries.SERVICES, previous=previous),
        "direct_by_method": section(queries.DIRECT_BY_METHOD),
        "shared_sources": optional("shared_cost_split", queries.SHARED_SOURCES),
        "unit_daily": optional("unit_economics", queries.UNIT_DAILY),
        "unit_monthly": optional("unit_economics", queries.UNIT_MONTHLY, first=first),
        "budget": optional("budget_variance", queries.BUDGET),
        "accuracy": optional("forecast_accuracy", queries.ACCURACY),
        "anomalies": optional("cost_anomalies", queries.ANOMALIES),
        "credit_components": optional("credit_score", queries.CREDIT_COMPONENTS),
        "credit_weeks": optional("credit_score", queries.CREDIT_WEEKS),
        "recommendations": optional("recommendations", queries.RECOMMENDATIONS, limit=MAX_RECOMMENDATIONS),
    }
    return {
        team: ShowbackData(
            team=team,
            period=period,
            previous=previous,
            currency=currencies[0],
            products=owners[team][0]["products"],
            cost_centers=owners[team][0]["cost_centers"],
            last_day=owners[team][0]["last_day"],
            **{name: by_team[team] for name, by_team in sections.items()},
        )
        for team in wanted
    }


def _by_team(rows: list[Row], wanted: Sequence[str]) -> dict[str, list[Row]]:
    """Rows of a section split by their ``team`` (removed from each row), every wanted team present."""
    out: dict[str, list[Row]] = {team: [] for team in wanted}
    for row in rows:
        out[row.pop("team")].append(row)
    return out
