"""The Dagster definitions of curlake (`dagster dev` from the repo root loads this module)."""

from __future__ import annotations

import dagster as dg

from orchestration.assets import allocation, efficiency, focus, insights, report
from orchestration.assets.business_metrics import budgets, business_metrics_daily
from orchestration.assets.cost_line_items import cost_line_items
from orchestration.jobs import refresh_billing_period
from orchestration.resources import CurlakeSettings
from orchestration.sensors import cur_delivery_sensor, hourly_delivery_check

ASSETS = [cost_line_items, business_metrics_daily, budgets, *allocation.ASSETS, *insights.ASSETS, *efficiency.ASSETS, *focus.ASSETS, *report.ASSETS]

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[refresh_billing_period],
    sensors=[cur_delivery_sensor],
    schedules=[hourly_delivery_check],
    resources={"settings": CurlakeSettings()},
)
