"""credit_score on known KPI inputs: scores, weights after dropping, composite, change, gates, config errors."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest

from test_efficiency_builders import CREDIT_CONFIG, credit_config
from transforms.efficiency import (
    ConfigError,
    build_credit_score,
    check_composite,
    check_weights,
    load_config,
)
from transforms.efficiency.config import DEFAULT_PATH
from transforms.insights import InputError

CONFIG = """\
version: 1
components:
  graviton_coverage:         {goal: 0.20, zero_at: 0.0, weight: 0.5}
  previous_generation_share: {goal: 0.10, zero_at: 1.0, weight: 0.3}
  budget_adherence:          {goal: 1.00, zero_at: 1.5, weight: 0.2}
saving_rates: {graviton: 0.20, spot: 0.55, commitment: 0.20, gp3: 0.20, s3_tiering: 0.30, previous_generation: 0.10}
graviton_equivalents: {m5: m7g}
previous_generation: {m4: m5}
s3_tiered_classes: [Archive]
unit_cost: {default_driver: orders}
"""

JAN20, JAN27, FEB3 = date(2025, 1, 20), date(2025, 1, 27), date(2025, 2, 3)
JAN1, FEB1 = date(2025, 1, 1), date(2025, 2, 1)

# (billing_period, grain, period_start, team, account, kpi, value); None = does not apply.
KPIS = [
    # t1, week of Feb 3: graviton 0.1 -> 50, previous generation 0.325 -> 75, budget 1.2 -> 60.
    ("2025-02", "week", FEB3, "t1", None, "graviton_coverage", 0.1),
    ("2025-02", "week", FEB3, "t1", None, "previous_generation_share", 0.325),
    ("2025-02", "week", FEB3, "t1", None, "budget_adherence", 1.2),
    # An account row that would change everything if it were read.
    ("2025-02", "week", FEB3, "t1", "123456789012", "graviton_coverage", 0.0),
    # t1, week of Jan 27: both compute KPIs at goal, no budget.
    ("2025-02", "week", JAN27, "t1", None, "graviton_coverage", 0.5),
    ("2025-02", "week", JAN27, "t1", None, "previous_generation_share", 0.1),
    ("2025-02", "week", JAN27, "t1", None, "budget_adherence", None),
    # t2 has no compute at all: only its budget counts.
    ("2025-02", "week", FEB3, "t2", None, "graviton_coverage", None),
    ("2025-02", "week", FEB3, "t2", None, "previous_generation_share", None),
    ("2025-02", "week", FEB3, "t2", None, "budget_adherence", 0.9),
    ("2025-02", "week", JAN27, "t2", None, "budget_adherence", 1.0),
    # t2's week of Jan 20 is January's: read for the previous composite only.
    ("2025-01", "week", JAN20, "t2", None, "budget_adherence", 1.25),
    # t3: nothing applies.
    ("2025-02", "week", FEB3, "t3", None, "graviton_coverage", None),
    # Months: t1 graviton 0.2 in January (100), 0.05 in February (25).
    ("2025-01", "month", JAN1, "t1", None, "graviton_coverage", 0.2),
    ("2025-02", "month", FEB1, "t1", None, "graviton_coverage", 0.05),
]


@pytest.fixture()
def scored(tmp_path):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE efficiency_kpis (billing_period VARCHAR, grain VARCHAR, period_start DATE, team VARCHAR, "
        "usage_account_id VARCHAR, kpi VARCHAR, numerator DECIMAL(18,2), denominator DECIMAL(18,2), value DOUBLE, "
        "applies BOOLEAN)"
    )
    for period, grain, start, team, account, kpi, value in KPIS:
        con.execute(
            "INSERT INTO efficiency_kpis VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
            [period, grain, start, team, account, kpi, value, value is not None],
        )
    build_credit_score(con, "2025-02", "efficiency_kpis", credit_config(tmp_path, CONFIG)).create("credit_score")
    rows = con.execute(
        "SELECT grain, period_start, team, component, score, effective_weight, contribution, previous_contribution, "
        "contribution_change, composite, previous_composite, composite_change FROM credit_score"
    ).fetchall()
    yield con, {r[:4]: r[4:] for r in rows}
    con.close()


def test_composite_on_known_inputs(scored):
    _, rows = scored
    t1 = {c: rows[("week", FEB3, "t1", c)] for c in ("graviton_coverage", "previous_generation_share", "budget_adherence")}
    assert [t1[c][0] for c in t1] == pytest.approx([50, 75, 60])
    assert [t1[c][1] for c in t1] == pytest.approx([0.5, 0.3, 0.2])
    assert [t1[c][2] for c in t1] == pytest.approx([25, 22.5, 12])
    assert t1["graviton_coverage"][5] == pytest.approx(59.5)


def test_components_that_do_not_apply_drop_out(scored):
    _, rows = scored
    # t2: only the budget applies, so it weighs 1; 0.9 is better than the goal: 100 points, not more.
    t2 = rows[("week", FEB3, "t2", "budget_adherence")]
    assert (t2[0], t2[1], t2[5]) == (pytest.approx(100), pytest.approx(1.0), pytest.approx(100))
    assert rows[("week", FEB3, "t2", "graviton_coverage")][:3] == (None, 0.0, 0.0)
    # t1 in the week of Jan 27: no budget, so 0.5 and 0.3 become 0.625 and 0.375.
    assert rows[("week", JAN27, "t1", "graviton_coverage")][1] == pytest.approx(0.625)
    assert rows[("week", JAN27, "t1", "previous_generation_share")][1] == pytest.approx(0.375)
    # t3: nothing applies, no composite.
    assert rows[("week", FEB3, "t3", "graviton_coverage")][5] is None


def test_change_is_the_sum_of_the_contributions_changes(scored):
    _, rows = scored
    t1 = {c: rows[("week", FEB3, "t1", c)] for c in ("graviton_coverage", "previous_generation_share", "budget_adherence")}
    assert t1["graviton_coverage"][5:] == (pytest.approx(59.5), pytest.approx(100), pytest.approx(-40.5))
    # 25 - 62.5, 22.5 - 37.5, 12 - 0: the graviton drop explains most of the move.
    assert [t1[c][4] for c in t1] == pytest.approx([-37.5, -15, 12])
    # The previous week of the period's first week comes from January's rows: 1.25 -> 50 points.
    assert rows[("week", JAN27, "t2", "budget_adherence")][5:] == (pytest.approx(100), pytest.approx(50), pytest.approx(50))
    assert rows[("month", FEB1, "t1", "graviton_coverage")][5:] == (pytest.approx(25), pytest.approx(100), pytest.approx(-75))
    # Only February's rows are output.
    assert not [k for k in rows if k[1] in (JAN20, JAN1)]


def test_gates_pass_and_catch_tampering(scored):
    con, _ = scored
    assert check_weights(con, "credit_score", "2025-02") == []
    assert check_composite(con, "credit_score", "2025-02") == []
    con.execute("UPDATE credit_score SET composite = 60 WHERE team = 't1' AND grain = 'week' AND period_start = '2025-02-03'")
    (failure,) = check_composite(con, "credit_score", "2025-02")
    assert "composite = sum of contributions" in failure and "team=t1" in failure and "composite=60" in failure
    con.execute("UPDATE credit_score SET effective_weight = 0.5 WHERE team = 't2' AND component = 'budget_adherence' "
                "AND period_start = '2025-02-03'")
    (failure,) = check_weights(con, "credit_score", "2025-02")
    assert "team=t2" in failure and "sum to 0.5" in failure


def test_bad_kpi_inputs_are_named(tmp_path):
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE k (billing_period VARCHAR, grain VARCHAR, period_start DATE, team VARCHAR, "
        "usage_account_id VARCHAR, kpi VARCHAR, numerator DECIMAL(18,2), denominator DECIMAL(18,2), value DOUBLE, "
        "applies BOOLEAN)"
    )
    config = credit_config(tmp_path, CONFIG)
    con.execute("INSERT INTO k VALUES ('2025-02', 'week', '2025-02-03', 't1', NULL, 'gp3_share', 1, 2, NULL, true)")
    with pytest.raises(InputError, match=r"(?s)value must be a finite number exactly when applies is true;.*team='t1'"):
        build_credit_score(con, "2025-02", "k", config)
    con.execute("UPDATE k SET value = 0.5")
    con.execute("INSERT INTO k SELECT * FROM k")
    with pytest.raises(InputError, match=r"more than one row per \(grain, period_start, team, kpi\)"):
        build_credit_score(con, "2025-02", "k", config)
    with pytest.raises(InputError, match=r"no rows with billing_period = '2025-03'"):
        build_credit_score(con, "2025-03", "k", config)


def test_repo_config_loads_with_weights_summing_to_one():
    config = load_config(DEFAULT_PATH)
    assert sum(c.weight for c in config.components) == 1
    assert config.component("graviton_coverage").goal == Decimal("0.20")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("weight: 0.15}\n  spot", "weight: 0.25}\n  spot", r"credit_score.yaml:2:1: components: weights must sum to 1, got 1.10"),
        ("gp3_share:                 {goal: 0.50, zero_at: 0.0", "gp3_share:                 {goal: 0.50, zero_at: 0.5",
         r"credit_score.yaml:7:52: components.gp3_share.zero_at: must differ from goal"),
        ("{goal: 0.20, zero_at: 0.0,  weight: 0.15}", "{goal: 20, zero_at: 0.0,  weight: 0.15}",
         r"components.graviton_coverage.goal: graviton_coverage is a share: goal must be between 0 and 1, got 20"),
        ("  spot_coverage:", "  spot_coverge:", r"components.spot_coverge: unknown key 'spot_coverge'"),
        ("spot: 0.55", "spot: 55", r"saving_rates.spot: must be a fraction between 0 and 1, got 55"),
        ("teams: {beta: revenue}", "teams: {beta: profit}", r"unit_cost.teams.beta: 'profit' is not one of: orders"),
        ("{m4: m7g,", "{M4: m7g,", r"graviton_equivalents.*'M4' is not an instance family"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path, old, new, message):
    assert old in CREDIT_CONFIG
    with pytest.raises(ConfigError, match=message):
        credit_config(tmp_path, CREDIT_CONFIG.replace(old, new, 1))
