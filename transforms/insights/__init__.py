"""FinOps insights over allocated cost: unit economics, budgets with forecasts, cost anomalies.

Every builder takes DuckDB relation *names* for its inputs (the lead maps them onto the curated
tables) and returns a lazy DuckDB relation over SQL from ``sql/<table>/``: nothing is pulled into
Python, so the same code runs on a test table of twenty rows or a lake of a hundred million.
Definitions and methods: docs/unit_economics.md.
"""

from transforms.insights.anomalies import build_cost_anomalies
from transforms.insights.forecast import build_budget_variance, build_forecast_accuracy, check_budget_variance
from transforms.insights.inputs import InputError
from transforms.insights.unit_economics import build_unit_economics, check_unit_economics

__all__ = [
    "InputError",
    "build_budget_variance",
    "build_cost_anomalies",
    "build_forecast_accuracy",
    "build_unit_economics",
    "check_budget_variance",
    "check_unit_economics",
]
