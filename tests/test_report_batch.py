"""The showback reports' speed-ups keep their numbers and pictures: a month's teams gathered in one
pass (one query per section, whatever the number of teams), and each chart laid out and drawn once,
cropped like ``savefig(bbox_inches="tight")`` would crop it.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from test_report import hand_made_lake
from transforms import duck
from transforms.report import Report, ReportError, charts, gather, gather_teams, output, write_month


@pytest.fixture
def hand():
    con = duck.connect(s3=False)
    hand_made_lake(con)
    yield con
    con.close()


# ----------------------------------------------------------------------------------- one pass for every team


def test_gather_teams_splits_every_section_by_team(hand):
    both = gather_teams(hand, "2025-02")
    assert sorted(both) == ["api", "web"]
    api = both["api"]
    # api in the hand-made lake: EC2 7.00 by tag, then 9.00 of the 12.00 network pool (75 %).
    assert (api.direct, api.shared, api.total, api.previous_total) == (Decimal("7.00"), Decimal("9.00"), Decimal("16.00"), None)
    assert [(r["service_code"], r["total"]) for r in api.services] == [("AmazonVPC", Decimal("9.00")), ("AmazonEC2", Decimal("7.00"))]
    assert [(r["pool"], r["amount"], r["share_of_pool"]) for r in api.shared_sources] == [("network", Decimal("9.00"), 0.75)]
    assert (api.products, api.cost_centers, api.last_day) == (["shop"], ["CC-2"], date(2025, 2, 1))
    # web as the one-team gather sees it (its figures are checked by hand in test_report.py).
    web = both["web"]
    assert (web.direct, web.shared, web.previous_total) == (Decimal("16.50"), Decimal("4.50"), Decimal("14.00"))
    assert web == gather(hand, "web", "2025-02")
    assert all("team" not in row for row in web.daily + web.services + web.monthly + web.shared_sources)
    with pytest.raises(ReportError, match=r"team 'shop' has no allocated cost in 2025-02; teams with cost then: api, web"):
        gather_teams(hand, "2025-02", ["web", "shop"])


def test_recommendations_are_limited_per_team_not_overall(hand):
    hand.execute("""
        CREATE TABLE recommendations AS
        SELECT 'web' AS team, i AS priority, true AS sprint, 'web action ' || i AS action, 'compute' AS category,
               'AmazonEC2' AS service_code, 1.00 AS estimated_monthly_savings, 1.00 AS potential_monthly_savings,
               1 AS resource_count, ['i-' || i] AS top_resources, '2025-02' AS billing_period
        FROM range(1, 13) t(i)
        UNION ALL
        SELECT 'api', i, true, 'api action ' || i, 'compute', 'AmazonEC2', 1.00, 1.00, 1, ['i-' || i], '2025-02'
        FROM range(1, 3) t(i)
    """)
    both = gather_teams(hand, "2025-02")
    assert [r["priority"] for r in both["web"].recommendations] == list(range(1, 11))  # 12 rows, the first 10
    assert [r["action"] for r in both["api"].recommendations] == ["api action 1", "api action 2"]


class CountingConnection:
    """A DuckDB connection that records each statement it runs."""

    def __init__(self, con):
        self.con, self.statements = con, []

    def execute(self, sql, params=None):
        self.statements.append(sql)
        return self.con.execute(sql) if params is None else self.con.execute(sql, params)


def test_a_month_runs_the_same_queries_for_2_teams_or_32(hand, tmp_path, monkeypatch):
    # Pages are not drawn here: only the statements the month's reports run are counted.
    monkeypatch.setattr(output, "render", lambda d: Report(d.team, d.period, f"<h1>{d.team}</h1>", {}))
    two = CountingConnection(hand)
    assert sorted(write_month(two, "2025-02", str(tmp_path / "two")).paths) == ["api", "web"]
    hand.execute("""
        INSERT INTO cost_allocation
        SELECT '2025-02', DATE '2025-02-01', printf('team%02d', i), 'shop', 'CC-9', 'tag', NULL, 'AmazonEC2', 'USD', i, 0
        FROM range(30) t(i)
    """)
    many = CountingConnection(hand)
    assert len(write_month(many, "2025-02", str(tmp_path / "many")).paths) == 32
    assert many.statements == two.statements


# ----------------------------------------------------------------------------------- one draw per chart


def _savefig_tight(fig: Figure) -> bytes:
    """What the charts did before: matplotlib's own tight crop (three layouts of the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=charts.DPI, bbox_inches="tight")
    return buf.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


FEB = [date(2025, 2, 1) + timedelta(days=i) for i in range(28)]
CHARTS = {
    "monthly_trend": lambda: charts.monthly_trend(["2025-01", "2025-02"], [Decimal("14.00"), Decimal("16.50")],
                                                  [Decimal(0), Decimal("4.50")], "USD"),
    "daily_cost": lambda: charts.daily_cost(FEB[:2], [Decimal("11.00"), Decimal("5.50")], [Decimal("4.50"), Decimal(0)], FEB, "USD"),
    "by_service": lambda: charts.by_service(["AmazonEC2", "AmazonVPC", "AmazonS3"], [Decimal(14), Decimal(0), Decimal("2.5")],
                                            [Decimal(0), Decimal(3), Decimal(0)], "USD"),
    "direct_and_shared": lambda: charts.direct_and_shared(["direct: tag", "shared: network"], [Decimal(14), Decimal(3)],
                                                          [False, True], "USD"),
    "unit_costs": lambda: charts.unit_costs({"shop": (FEB[:3], [0.5, None, 0.75], [0.01, 0.02, None])}, FEB, "USD"),
    "budget": lambda: charts.budget_burn(FEB[:2], [Decimal("14.50"), Decimal(21)], Decimal(30),
                                         (FEB[1], Decimal(21), Decimal(290)), FEB, "USD"),
    "credit_score": lambda: charts.credit_score(["graviton_coverage", "gp3_share"], [75.0, None], [45.0, 0.0],
                                                [date(2025, 2, 3), date(2025, 2, 10)], [50.0, 100.0]),
    "teams_overview": lambda: charts.teams_overview(["web", "api"], [Decimal("16.5"), Decimal(7)], [Decimal("4.5"), Decimal(9)],
                                                   [Decimal(30), None], "USD", "2025-02"),
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_each_chart_is_drawn_once_and_cropped_as_savefig_tight_would(name, monkeypatch):
    draws = []
    real_draw = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda fig, renderer: draws.append(fig) or real_draw(fig, renderer))
    once = _pixels(CHARTS[name]())
    assert len(draws) == 1
    monkeypatch.setattr(charts, "_png", _savefig_tight)
    tight = _pixels(CHARTS[name]())
    # Same picture: savefig crops to the artists' boxes, _png to their ink, so the sizes differ by
    # a few pixels of blank at most, and the same pixels are painted in the bars' colours.
    assert np.abs(np.subtract(once.shape, tight.shape)).max() <= 10, (once.shape, tight.shape)
    for colour in (charts.DIRECT, charts.SHARED, charts.PALETTE[2]):
        rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert (once == rgb).all(axis=2).sum() == pytest.approx((tight == rgb).all(axis=2).sum(), rel=0.05, abs=30)
    # A blank border of PAD_INCHES all round, and ink right inside it.
    pad = round(charts.PAD_INCHES * charts.DPI)
    ink = (once != 255).any(axis=2)
    assert not ink[:pad].any() and not ink[-pad:].any() and not ink[:, :pad].any() and not ink[:, -pad:].any()
    assert ink[pad].any() and ink[-pad - 1].any() and ink[:, pad].any() and ink[:, -pad - 1].any()


@pytest.mark.parametrize("name", sorted(set(CHARTS) - {"unit_costs"}))  # unit_costs: auto titles (offset text)
def test_titles_placed_directly_are_where_matplotlib_would_place_them(name, monkeypatch):
    direct = CHARTS[name]()
    monkeypatch.setattr(charts, "_title", lambda ax, text: ax.set_title(text, loc="left", fontsize=11))
    assert CHARTS[name]() == direct  # byte for byte: the same picture


def test_a_label_longer_than_the_margin_grows_the_canvas_and_is_kept():
    names = ["AmazonEC2", "x" * 150]  # about 12 inches of text, past the 3 inch margin
    long = _pixels(charts.by_service(names, [Decimal(5), Decimal(1)], [Decimal(1), Decimal(0)], "USD"))
    assert long.shape[1] > (8 + sum(charts.MARGIN[0::2])) * charts.DPI
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(charts, "_png", _savefig_tight)
        tight = _pixels(charts.by_service(names, [Decimal(5), Decimal(1)], [Decimal(1), Decimal(0)], "USD"))
    assert abs(long.shape[1] - tight.shape[1]) <= 10
    pad = round(charts.PAD_INCHES * charts.DPI)
    assert (long[:, pad] != 255).any()  # the label's first letter, not cut off


def test_a_chart_that_cannot_fit_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(charts, "MARGIN_SCALES", (1, 2))  # the margin grows to 6 inches left at most
    with pytest.raises(ValueError, match=r"chart Cost by service: what it draws does not fit in the figure plus a blank "
                                         r"margin of 6 in left, 4 in right, 2 in below and 2 in above"):
        charts.by_service(["y" * 200], [Decimal(5)], [Decimal(1)], "USD")
