"""Business drivers beside the bill: daily revenue, orders, users and requests, and budgets.

Both are derived from what each team actually spent in the generated bill (amortized, anomalies
excluded, whoever the tags say): revenue and orders follow spend with a retail weekly pattern,
requests follow spend with a weekday pattern, and budgets sit a team-specific factor above or
below the month's spend. Internal teams earn no revenue; their requests still drive splits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from transforms import periods
from transforms.generate import org
from transforms.generate.month_plan import SERVICE_CODES, month_code


@dataclass(frozen=True)
class Economics:
    revenue_per_dollar: float  # revenue per dollar of cloud spend
    order_value: float
    users_per_order: float
    requests_per_dollar: float


ECONOMICS: dict[str, Economics] = {
    "checkout": Economics(30.0, 62.0, 4.0, 40_000),
    "search": Economics(18.0, 45.0, 9.0, 90_000),
    "payments": Economics(24.0, 70.0, 3.0, 30_000),
    "catalog": Economics(14.0, 38.0, 7.0, 60_000),
    "identity": Economics(8.0, 55.0, 12.0, 80_000),
    "mobile-api": Economics(12.0, 41.0, 6.0, 70_000),
    "ads": Economics(20.0, 80.0, 25.0, 50_000),
    "recommendations": Economics(16.0, 52.0, 10.0, 65_000),
    "data-platform": Economics(0.0, 1.0, 0.0, 8_000),
    "ml-platform": Economics(0.0, 1.0, 0.0, 5_000),
    "notifications": Economics(0.0, 1.0, 0.0, 120_000),
    "platform": Economics(0.0, 1.0, 0.0, 20_000),
}
REVENUE_WEEKDAY = np.array([0.97, 0.96, 0.98, 1.0, 1.04, 1.12, 1.08])  # Monday .. Sunday (retail)
REQUEST_WEEKDAY = np.array([1.06, 1.07, 1.06, 1.05, 1.02, 0.88, 0.86])
NOISE_SIGMA = 0.05
INTERNAL_USERS_PER_DOLLAR = 0.5
BUDGET_FACTOR_RANGE = (0.85, 1.2)  # < 1: the team is over budget


def metrics_daily(months: list[str], team_day: dict[str, np.ndarray], seed: int) -> str:
    """CSV text of business_metrics/metrics_daily.csv (one row per date, team and product)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["date", "team", "product", "revenue", "orders", "active_users", "requests", "currency"])
    weights = np.array([t.weight for t in org.TEAMS])
    for period in months:
        spend = team_day[period]
        rng = np.random.default_rng([seed, 7, month_code(period)])
        # A floor keeps revenue positive for a team whose resources happen not to run that day.
        floor = 0.1 * spend.sum() / max(spend.shape[1], 1) / weights.sum() * weights
        for d, day in enumerate(periods.days(period)):
            wd = day.weekday()
            noise = rng.lognormal(-NOISE_SIGMA**2 / 2, NOISE_SIGMA, size=(len(org.TEAMS), 2))
            for t, team in enumerate(org.TEAMS):
                econ = ECONOMICS[team.name]
                driver = spend[t, d] + floor[t]
                revenue = econ.revenue_per_dollar * driver * REVENUE_WEEKDAY[wd] * noise[t, 0]
                orders = int(round(revenue / econ.order_value)) if econ.revenue_per_dollar else 0
                users = (int(round(orders * econ.users_per_order)) if econ.revenue_per_dollar
                         else int(round(driver * INTERNAL_USERS_PER_DOLLAR)))
                requests = int(round(econ.requests_per_dollar * driver * REQUEST_WEEKDAY[wd] * noise[t, 1]))
                w.writerow([day.isoformat(), team.name, team.product, f"{revenue:.2f}", orders, users, requests, org.CURRENCY])
    return out.getvalue()


def budgets(months: list[str], team_total: dict[str, np.ndarray], seed: int) -> str:
    """CSV text of business_metrics/budgets.csv: a whole-team budget per team and month, and
    budgets for each team's largest service (and second largest for the biggest teams)."""
    rng = np.random.default_rng([seed, 8])
    team_factor = rng.uniform(*BUDGET_FACTOR_RANGE, size=len(org.TEAMS))
    service_factor = rng.uniform(*BUDGET_FACTOR_RANGE, size=(len(org.TEAMS), len(SERVICE_CODES)))
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["billing_period", "team", "service_code", "budget", "currency"])
    for period in months:
        by_service = team_total[period]
        for t, team in enumerate(org.TEAMS):
            w.writerow([period, team.name, "", f"{_round_budget(by_service[t].sum() * team_factor[t]):.2f}", org.CURRENCY])
            ranked = np.argsort(-by_service[t], kind="stable")
            for s in ranked[: 2 if team.weight >= 1.1 else 1]:
                if by_service[t, s] > 0:
                    amount = _round_budget(by_service[t, s] * service_factor[t, s])
                    w.writerow([period, team.name, SERVICE_CODES[s], f"{amount:.2f}", org.CURRENCY])
    return out.getvalue()


def _round_budget(x: float) -> float:
    """Budgets are round numbers: two significant digits (at least 10)."""
    if x <= 0:
        return 0.0
    step = max(10.0, 10 ** (np.floor(np.log10(x)) - 1))
    return float(np.round(x / step) * step)
