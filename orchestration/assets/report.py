"""`showback_report`: per billing period, a self-contained HTML showback report for every team.

The pages go to ``<lake>/_reports/showback/billing_period=YYYY-MM/`` (``<team>.html`` and an
``index.html``). The materialization carries the month at a glance for the Dagster UI: a markdown
table of every team's cost, budget and status, and the same as a chart (a PNG inlined in markdown).
"""

import dagster as dg

from orchestration.partitions import billing_periods
from orchestration.resources import CurlakeSettings
from transforms.report import ReportError, open_lake, reports_root, write_month
from transforms.report.output import chart_markdown

# The tables the report reads. Any but cost_allocation may be absent from a lake: its section
# then says "not available yet".
INPUTS = ["cost_allocation", "shared_cost_split", "unit_economics", "budget_variance", "forecast_accuracy", "cost_anomalies",
          "credit_score", "recommendations"]


@dg.asset(
    name="showback_report",
    partitions_def=billing_periods,
    deps=INPUTS,
    group_name="reports",
    kinds={"html"},
    description="Per team and month, a static HTML showback report that opens without network: cost trend, cost by "
                "service, direct versus shared cost and the pools it came from, unit cost trend, budget versus actual "
                "and forecast, credit score, top recommendations and anomalies, with charts.",
)
def showback_report(context: dg.AssetExecutionContext, settings: CurlakeSettings) -> dg.MaterializeResult:
    period = context.partition_key
    con = open_lake(settings.lake, memory_limit=settings.duckdb_memory_limit)
    try:
        month = write_month(con, period, reports_root(settings.lake))
    except ReportError as exc:
        raise dg.Failure(f"showback reports for {period}: {exc}") from exc
    finally:
        con.close()
    context.log.info(f"Wrote {len(month.paths)} showback reports for {period} under {month.index}")
    return dg.MaterializeResult(metadata={
        "summary": dg.MetadataValue.md(month.summary_markdown),
        "chart": dg.MetadataValue.md(chart_markdown(month.chart_png, f"Allocated cost by team, {period}")),
        "index": dg.MetadataValue.path(month.index),
        "reports": dg.MetadataValue.int(len(month.paths)),
        "teams": dg.MetadataValue.json(sorted(month.paths)),
    })


ASSETS = [showback_report]
