"""Showback reports: per team and month, one static HTML page with charts, readable offline.

``gather`` reads small aggregates from the lake tables (``open_lake`` gives a connection with a
view per table; ``gather_teams`` reads them for many teams at once), ``page.render`` draws the charts (matplotlib, Agg) and writes the page,
``output`` writes it (and a month's set, with the summary the Dagster asset attaches).
"""

from transforms.report.gather import ReportError, ShowbackData, gather, gather_teams, open_lake, teams
from transforms.report.output import MonthReports, make_report, report_path, reports_root, write_month, write_text
from transforms.report.page import Report, render

__all__ = [
    "MonthReports", "Report", "ReportError", "ShowbackData", "gather", "gather_teams", "make_report", "open_lake", "render",
    "report_path", "reports_root", "teams", "write_month", "write_text",
]
