"""Owners, split methods and edge cases on tiny hand-built line items, with amounts computed by hand.

Amounts like 10.00 / 3 exercise largest-remainder rounding: exact shares are never whole cents,
and the expected cents below are worked out in the comments.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from allocation_builders import (
    ACCOUNT_BETA,
    DAY1,
    DAY2,
    PERIOD,
    connect,
    insert,
    li,
    metrics,
    write_config,
)
from transforms.allocation import (
    allocate_line_items,
    build_cost_allocation,
    build_shared_cost_split,
    check_allocated_once,
    check_conservation,
    check_owners_configured,
)

NAT = "USE1-NatGateway-Hours"
NAT_RULE = """\
- name: nat
  match: {usage_type: 'NatGateway'}
  pool: net
"""


@pytest.fixture
def con():
    c = connect()
    yield c
    c.close()


def owners(con, config) -> list[tuple]:
    """(resource_id, method, team, product, environment, cost_center, reason) per line item, by resource id."""
    rel = allocate_line_items(con, config, billing_period=PERIOD)
    return sorted(
        rel.select("resource_id, allocation_method, team, product, environment, cost_center, allocation_reason").fetchall()
    )


def split(con, config, basis: str = "unblended") -> dict[tuple, Decimal]:
    """shared_cost_split amounts: (pool, day, recipient) -> amount, for one cost basis."""
    rel = build_shared_cost_split(con, config, PERIOD).filter(f"cost_basis = '{basis}'")
    return {(p, d, r): a for p, d, r, a in rel.select("pool, usage_date, recipient, amount").fetchall()}


def team_totals(con, config, column: str) -> dict:
    rel = build_cost_allocation(con, config, PERIOD)
    return dict(rel.aggregate(f"team, sum({column})", "team").fetchall())


# ------------------------------------------------------------------------------------------
# Owners


def test_tag_key_precedence_and_value_normalization(con, tmp_path):
    config = write_config(tmp_path)
    insert(con, [
        li("1", resource_id="r1", tags={"owner-team": "beta", "team": "alpha"}),  # team outranks owner-team
        li("1", resource_id="r2", tags={"owner": "gamma", "owner-team": "beta"}),  # owner-team outranks owner
        li("1", resource_id="r3", tags={"team": "   ", "owner": " GAMMA "}),  # blank is absent; trim + lowercase
        li("1", resource_id="r4", tags={"team": "Alfa"}),  # value alias
    ])
    got = {r[0]: r[2] for r in owners(con, config)}
    assert got == {"r1": "alpha", "r2": "beta", "r3": "gamma", "r4": "alpha"}


def test_first_matching_rule_wins_and_order_matters(con, tmp_path):
    insert(con, [li("1", service="AmazonS3", resource_id="logs-bucket")])
    rules = """\
    - name: by-service
      match: {service: [AmazonS3]}
      owner: {team: alpha}
    - name: by-resource
      match: {resource_id: '^logs-'}
      owner: {team: gamma}
    """
    assert owners(con, write_config(tmp_path, rules=rules))[0][1:3] == ("rule", "alpha")
    swapped = "\n".join(rules.splitlines()[3:] + rules.splitlines()[:3]) + "\n"
    assert owners(con, write_config(tmp_path, rules=swapped))[0][1:3] == ("rule", "gamma")


def test_decision_order_rules_tags_accounts(con, tmp_path):
    config = write_config(
        tmp_path,
        rules="""\
        - name: s3-to-alpha
          match: {service: [AmazonS3]}
          owner: {team: alpha}
        - name: lambda-forced
          match: {service: [AWSLambda]}
          override_tags: true
          owner: {team: gamma}
        """,
    )
    insert(con, [
        li("1", resource_id="a-tagged-s3", service="AmazonS3", tags={"team": "beta"}),  # owner rule skips tagged
        li("1", resource_id="b-untagged-s3", service="AmazonS3"),  # owner rule
        li("1", resource_id="c-tagged-lambda", service="AWSLambda", tags={"team": "beta"}),  # override_tags
        li("1", resource_id="d-beta-account", account=ACCOUNT_BETA),  # account owner
        li("1", resource_id="e-typo", account=ACCOUNT_BETA, tags={"team": "betta"}),  # unknown value: not the account
        li("1", resource_id="f-nothing"),
    ])
    got = {r[0]: (r[1], r[2], r[6]) for r in owners(con, config)}
    assert got == {
        "a-tagged-s3": ("tag", "beta", None),
        "b-untagged-s3": ("rule", "alpha", None),
        "c-tagged-lambda": ("rule", "gamma", None),
        "d-beta-account": ("account", "beta", None),
        "e-typo": ("unallocated", None, "unknown_team_tag"),
        "f-nothing": ("unallocated", None, "no_owner"),
    }
    assert check_allocated_once(con, config, PERIOD) == []
    insert(con, [{**li("1", resource_id="next-month"), "billing_period": "2025-02"}])
    assert allocate_line_items(con, config).aggregate("count(*)").fetchall() == [(7,)]  # every period
    assert allocate_line_items(con, config, billing_period=PERIOD).aggregate("count(*)").fetchall() == [(6,)]


def test_secondary_dimensions(con, tmp_path):
    config = write_config(tmp_path, extra='  "210000000003": {team: gamma, environment: dev, product: p1}\n')
    insert(con, [
        li("1", resource_id="r1", tags={"team": "alpha", "product": "p2", "env": "Production", "cost-center": "cc-3"}),
        li("1", resource_id="r2", tags={"team": "alpha", "product": "nope"}),  # invalid product: team default
        li("1", resource_id="r3", account="210000000003"),  # account's own dimensions
        li("1", resource_id="r4", account="210000000003", tags={"env": "prod"}),  # tag beats the account default
    ])
    got = {r[0]: r[2:6] for r in owners(con, config)}
    assert got == {
        "r1": ("alpha", "p2", "prod", "CC-3"),
        "r2": ("alpha", "p1", None, "CC-1"),
        "r3": ("gamma", "p1", "dev", "CC-3"),
        "r4": ("gamma", "p1", "prod", "CC-3"),
    }


# ------------------------------------------------------------------------------------------
# Split methods: the NAT line (pool net) is split among the recipients of each method


def _two_teams_and_nat(con, nat: str = "10", day=DAY1):
    insert(con, [
        li("20", day=day, tags={"team": "alpha"}),
        li("10", day=day, tags={"team": "beta"}),
        li(nat, day=day, usage_type=NAT, resource_id="nat-1"),
    ])


def test_proportional_to_direct_cost(con, tmp_path):
    # 10.00 x 20/30 = 6.666.., x 10/30 = 3.333..: floors 6.66 + 3.33 = 9.99; the missing cent goes
    # to the larger remainder (alpha, 0.67 of a cent). gamma and delta have no direct cost: 0.
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: all, method: proportional}\n")
    assert split(con, config) == {
        ("net", DAY1, "alpha"): Decimal("6.67"),
        ("net", DAY1, "beta"): Decimal("3.33"),
        ("net", DAY1, "gamma"): Decimal("0.00"),
        ("net", DAY1, "delta"): Decimal("0.00"),
    }
    alloc = build_cost_allocation(con, config, PERIOD)
    shared = alloc.filter("allocation_method = 'shared'").select("team, pool, shared_unblended_cost, direct_unblended_cost")
    assert sorted(shared.fetchall()) == [("alpha", "net", Decimal("6.67"), 0), ("beta", "net", Decimal("3.33"), 0)]
    assert team_totals(con, config, "direct_unblended_cost + shared_unblended_cost") == {
        "alpha": Decimal("26.67"), "beta": Decimal("13.33"),
    }


def test_proportional_uses_the_direct_cost_of_each_basis(con, tmp_path):
    # Unblended: alpha 20, beta 10 -> 6.67 / 3.33. Amortized: alpha 10, beta 10 -> 5.00 / 5.00.
    insert(con, [
        li("20", amortized="10", tags={"team": "alpha"}),
        li("10", tags={"team": "beta"}),
        li("10", usage_type=NAT, resource_id="nat-1"),
    ])
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: [alpha, beta], method: proportional}\n")
    assert split(con, config, "unblended") == {("net", DAY1, "alpha"): Decimal("6.67"), ("net", DAY1, "beta"): Decimal("3.33")}
    assert split(con, config, "amortized") == {("net", DAY1, "alpha"): Decimal("5.00"), ("net", DAY1, "beta"): Decimal("5.00")}


def test_even_split_ties_go_by_team_name(con, tmp_path):
    # 10.00 / 3 = 3.333..: floors 3 x 3.33 = 9.99, remainders tie, the cent goes to the first name.
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: [gamma, beta, alpha], method: even}\n")
    assert split(con, config) == {
        ("net", DAY1, "alpha"): Decimal("3.34"),
        ("net", DAY1, "beta"): Decimal("3.33"),
        ("net", DAY1, "gamma"): Decimal("3.33"),
    }


def test_even_split_charges_a_budgeted_team_without_usage(con, tmp_path):
    # delta has no line item at all: an even split still gives it a quarter, 2.50.
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: all, method: even}\n")
    assert set(split(con, config).values()) == {Decimal("2.50")}
    assert team_totals(con, config, "shared_unblended_cost")["delta"] == Decimal("2.50")


def test_fixed_weights(con, tmp_path):
    # 10.00 x 1/6.5 = 1.538.., x 2/6.5 = 3.076.., x 3.5/6.5 = 5.384..: floors 1.53 + 3.07 + 5.38 = 9.98;
    # two cents to the largest remainders: alpha (0.85 of a cent) and beta (0.69); gamma (0.62) none.
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {method: weights, weights: {alpha: 1, beta: 2, gamma: 3.5}}\n")
    assert split(con, config) == {
        ("net", DAY1, "alpha"): Decimal("1.54"),
        ("net", DAY1, "beta"): Decimal("3.08"),
        ("net", DAY1, "gamma"): Decimal("5.38"),
    }


def test_business_metric_driver(con, tmp_path):
    # Requests on day 1: alpha 60 + 40 (two products), beta 300, delta 0, gamma no row: 10.00 -> 2.50 / 7.50.
    # Day 2 has no metrics at all: every driver is zero, so the pool falls back to an even split.
    _two_teams_and_nat(con, day=DAY1)
    _two_teams_and_nat(con, nat="9", day=DAY2)
    metrics(con, [(DAY1, "alpha", "p1", 60), (DAY1, "alpha", "p2", 40), (DAY1, "beta", "p1", 300), (DAY1, "delta", "p2", 0)])
    config = write_config(
        tmp_path, rules=NAT_RULE, pools="net: {recipients: [alpha, beta, gamma, delta], method: driver, driver: {metric: requests}}\n"
    )
    got = split(con, config)
    assert {k: v for k, v in got.items() if k[1] == DAY1} == {
        ("net", DAY1, "alpha"): Decimal("2.50"),
        ("net", DAY1, "beta"): Decimal("7.50"),
        ("net", DAY1, "gamma"): Decimal("0.00"),
        ("net", DAY1, "delta"): Decimal("0.00"),
    }
    assert {v for k, v in got.items() if k[1] == DAY2} == {Decimal("2.25")}
    rows = build_shared_cost_split(con, config, PERIOD).filter("cost_basis = 'unblended' AND recipient = 'alpha'")
    assert sorted(rows.select("usage_date, method, applied_method, driver, driver_value").fetchall()) == [
        (DAY1, "driver", "driver", "requests", Decimal("100")),
        (DAY2, "driver", "even", "requests", Decimal("0")),
    ]


def test_missing_business_metrics_are_named(con, tmp_path):
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: all, method: driver, driver: {metric: orders}}\n")
    with pytest.raises(ValueError, match=r"table 'business_metrics_daily' \(business metrics\) does not exist; pools net"):
        build_cost_allocation(con, config, PERIOD)
    con.execute("CREATE TABLE metrics_without_orders (date DATE, team VARCHAR, requests BIGINT)")
    with pytest.raises(ValueError, match=r"table 'metrics_without_orders' has no column 'orders', needed by pool 'net'"):
        build_shared_cost_split(con, config, PERIOD, metrics="metrics_without_orders")


def test_cur_usage_measure_driver(con, tmp_path):
    # Instance hours: alpha 4 + 6 = 10, beta 30 (gamma's hours are on another usage type): 4.00 -> 1.00 / 3.00.
    insert(con, [
        li("1", tags={"team": "alpha"}, usage_amount=4),
        li("1", tags={"team": "alpha"}, usage_amount=6),
        li("1", tags={"team": "beta"}, usage_amount=30),
        li("1", tags={"team": "gamma"}, usage_amount=50, usage_type="USE1-TimedStorage"),
        li("4", usage_type=NAT, resource_id="nat-1", usage_amount=24),
    ])
    pools = """\
    net:
      recipients: [alpha, beta, gamma]
      method: driver
      driver: {usage: {service: [AmazonEC2], usage_type: 'BoxUsage'}}
    """
    config = write_config(tmp_path, rules=NAT_RULE, pools=pools)
    assert split(con, config) == {
        ("net", DAY1, "alpha"): Decimal("1.00"),
        ("net", DAY1, "beta"): Decimal("3.00"),
        ("net", DAY1, "gamma"): Decimal("0.00"),
    }


# ------------------------------------------------------------------------------------------
# Edge cases


def test_no_direct_cost_that_day_falls_back_to_even_or_stays_unallocated(con, tmp_path):
    # Only the NAT line: every proportional weight is zero.
    insert(con, [li("10", usage_type=NAT, resource_id="nat-1")])
    even = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: [alpha, beta, gamma], method: proportional}\n")
    assert sorted(split(con, even).values()) == [Decimal("3.33"), Decimal("3.33"), Decimal("3.34")]
    applied = build_shared_cost_split(con, even, PERIOD).select("applied_method").distinct().fetchall()
    assert applied == [("even",)]

    strict = write_config(
        tmp_path, rules=NAT_RULE, pools="net: {recipients: [alpha, beta], method: proportional, on_zero: unallocated}\n"
    )
    assert split(con, strict) == {
        ("net", DAY1, "alpha"): Decimal("0.00"),
        ("net", DAY1, "beta"): Decimal("0.00"),
        ("net", DAY1, None): Decimal("10.00"),
    }
    rows = build_cost_allocation(con, strict, PERIOD).select(
        "team, allocation_method, allocation_reason, pool, shared_unblended_cost"
    ).fetchall()
    assert rows == [(None, "unallocated", "pool_zero_driver", "net", Decimal("10.00"))]


def test_pool_without_recipients_stays_visible_and_unallocated(con, tmp_path):
    _two_teams_and_nat(con)
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: [], method: even}\n")
    assert split(con, config) == {("net", DAY1, None): Decimal("10.00")}
    unallocated = build_cost_allocation(con, config, PERIOD).filter("team IS NULL")
    assert unallocated.select("allocation_reason, pool, shared_unblended_cost").fetchall() == [
        ("pool_no_recipients", "net", Decimal("10.00"))
    ]
    assert check_conservation(con, build_cost_allocation(con, config, PERIOD)) == []
    assert check_owners_configured(con, config, build_cost_allocation(con, config, PERIOD)) == []


def test_credits_in_a_pool_and_teams_with_negative_direct_cost(con, tmp_path):
    # Pool: usage 10.00 and a credit -4.00. Weights: alpha 20, beta 10; gamma's direct cost is
    # 1.00 - 5.00 = -4.00, so it weighs zero (and its driver_value says -4).
    # Exact shares: usage 6.666.. / 3.333.., credit -2.666.. / -1.333..; floors 6.66, 3.33, -2.67, -1.34
    # plus the direct 20 + 10 + 1 - 5 = 35.98 of a 36.00 day: two cents, to the largest remainders
    # (0.67 of a cent): alpha's usage share and beta's credit share.
    insert(con, [
        li("20", tags={"team": "alpha"}),
        li("10", tags={"team": "beta"}),
        li("1", tags={"team": "gamma"}),
        li("-5", tags={"team": "gamma"}, line_item_type="Credit", charge_category="Adjustment"),
        li("10", usage_type=NAT, resource_id="nat-1"),
        li("-4", usage_type=NAT, resource_id="nat-1", line_item_type="Refund", charge_category="Adjustment"),
    ])
    config = write_config(tmp_path, rules=NAT_RULE, pools="net: {recipients: [alpha, beta, gamma], method: proportional}\n")
    cells = build_cost_allocation(con, config, PERIOD).filter("allocation_method = 'shared'")
    assert sorted(cells.select("team, charge_category, shared_unblended_cost").fetchall()) == [
        ("alpha", "Adjustment", Decimal("-2.67")),
        ("alpha", "Usage", Decimal("6.67")),
        ("beta", "Adjustment", Decimal("-1.33")),
        ("beta", "Usage", Decimal("3.33")),
    ]
    assert split(con, config) == {
        ("net", DAY1, "alpha"): Decimal("4.00"),
        ("net", DAY1, "beta"): Decimal("2.00"),
        ("net", DAY1, "gamma"): Decimal("0.00"),
    }
    gamma = build_shared_cost_split(con, config, PERIOD).filter("recipient = 'gamma' AND cost_basis = 'unblended'")
    assert gamma.select("driver_value, driver_share").fetchall() == [(Decimal("-4"), 0.0)]
    assert check_conservation(con, build_cost_allocation(con, config, PERIOD)) == []


# ------------------------------------------------------------------------------------------
# Conservation, checked against an independent computation in Python


CONSERVATION_POOLS = """\
net: {recipients: all, method: proportional}
sup: {method: weights, weights: {alpha: 1, beta: 1, gamma: 1}}
tax: {recipients: [alpha, beta, gamma, delta], method: even}
"""
CONSERVATION_RULES = NAT_RULE + """\
- name: support
  match: {service: [AWSSupportBusiness]}
  pool: sup
- name: tax
  match: {charge_category: [Tax]}
  pool: tax
"""


def _conservation_rows() -> list[dict]:
    """Two days of amounts with 10 decimals, credits, a refund, tax and support in three pools."""
    rows = []
    teams = ["alpha", "beta", "gamma", None]
    for d, day in enumerate((DAY1, DAY2)):
        for i in range(12):
            cost = Decimal(f"{(i + 1) * 1.3333333337 + d / 7:.10f}")
            rows.append(li(cost, day=day, amortized=(cost * Decimal("0.9")).quantize(Decimal("1e-10")), resource_id=f"r{i}",
                           tags={"team": teams[i % 4]} if teams[i % 4] else {}))
        rows.append(li("3.3333333333", day=day, usage_type=NAT, resource_id="nat-1"))
        rows.append(li("-1.0000000001", day=day, usage_type=NAT, resource_id="nat-1",
                       line_item_type="Credit", charge_category="Adjustment"))
        rows.append(li("0.0100000003", day=day, service="AWSSupportBusiness", resource_id=None))
        rows.append(li("1.2345678901", day=day, line_item_type="Tax", charge_category="Tax", resource_id=None))
        rows.append(li("-0.5555555555", day=day, tags={"team": "beta"}, line_item_type="Refund",
                       charge_category="Adjustment"))
    return rows


def test_conservation_to_the_cent_against_python(con, tmp_path):
    rows = _conservation_rows()
    insert(con, rows)
    config = write_config(tmp_path, rules=CONSERVATION_RULES, pools=CONSERVATION_POOLS)
    alloc = build_cost_allocation(con, config, PERIOD)
    got = defaultdict(Decimal)
    for day, u, a in alloc.select(
        "usage_date, direct_unblended_cost + shared_unblended_cost, direct_amortized_cost + shared_amortized_cost"
    ).fetchall():
        got[(day, "unblended")] += u
        got[(day, "amortized")] += a
    want = defaultdict(Decimal)
    for r in rows:
        want[(r["usage_date"], "unblended")] += r["unblended_cost"]
        want[(r["usage_date"], "amortized")] += r["amortized_cost"]
    # DuckDB's round() on DECIMAL rounds half away from zero; the day totals here are positive.
    assert dict(got) == {k: v.quantize(Decimal("0.01"), ROUND_HALF_UP) for k, v in want.items()}
    assert check_conservation(con, alloc) == []
    assert check_allocated_once(con, config, PERIOD) == []
    assert check_owners_configured(con, config, alloc) == []


def test_every_cell_within_a_cent_of_its_exact_share(con, tmp_path):
    """Recompute the split with fractions (independently of the SQL) and compare every shared cell."""
    rows = _conservation_rows()
    insert(con, rows)
    config = write_config(tmp_path, rules=CONSERVATION_RULES, pools=CONSERVATION_POOLS)
    direct = defaultdict(Fraction)  # (day, team) -> direct unblended cost
    pool_cells = defaultdict(Fraction)  # (pool, day, charge category) -> cost
    for r in rows:
        team = dict(r["tags"]).get("team")
        if r["usage_type"] == NAT:
            pool_cells[("net", r["usage_date"], r["charge_category"])] += Fraction(r["unblended_cost"])
        elif r["service_code"] == "AWSSupportBusiness":
            pool_cells[("sup", r["usage_date"], r["charge_category"])] += Fraction(r["unblended_cost"])
        elif r["charge_category"] == "Tax":
            pool_cells[("tax", r["usage_date"], r["charge_category"])] += Fraction(r["unblended_cost"])
        elif team:
            direct[(r["usage_date"], team)] += Fraction(r["unblended_cost"])
    recipients = {"net": ["alpha", "beta", "gamma", "delta"], "sup": ["alpha", "beta", "gamma"],
                  "tax": ["alpha", "beta", "gamma", "delta"]}
    exact = {}
    for (pool, day, category), amount in pool_cells.items():
        if pool == "net":
            weights = {t: max(direct[(day, t)], Fraction(0)) for t in recipients[pool]}
        else:
            weights = {t: Fraction(1) for t in recipients[pool]}
        total = sum(weights.values())
        for team, w in weights.items():
            exact[(pool, day, category, team)] = amount * w / total
    alloc = build_cost_allocation(con, config, PERIOD).filter("allocation_method = 'shared'")
    got = {(p, d, c, t): v for p, d, c, t, v in alloc.select(
        "pool, usage_date, charge_category, team, shared_unblended_cost").fetchall()}
    # Cells that round to zero on every basis are left out of cost_allocation.
    assert set(got) <= set(exact)
    assert {k for k, v in exact.items() if abs(v) >= Fraction(1, 100)} <= set(got)
    for key, value in exact.items():
        assert abs(Fraction(got.get(key, 0)) - value) < Fraction(1, 100), (key, got.get(key), float(value))


def test_shared_cost_split_and_cost_allocation_agree(con, tmp_path):
    insert(con, _conservation_rows())
    config = write_config(tmp_path, rules=CONSERVATION_RULES, pools=CONSERVATION_POOLS)
    alloc = build_cost_allocation(con, config, PERIOD).filter("pool IS NOT NULL")
    from_alloc = defaultdict(Decimal)
    for pool, day, team, u, a, n in alloc.select(
        "pool, usage_date, team, shared_unblended_cost, shared_amortized_cost, shared_net_amortized_cost"
    ).fetchall():
        for basis, v in (("unblended", u), ("amortized", a), ("net_amortized", n)):
            from_alloc[(pool, day, team, basis)] += v
    from_split = defaultdict(Decimal)
    pool_amounts = defaultdict(set)
    for pool, day, team, basis, amount, pool_amount in build_shared_cost_split(con, config, PERIOD).select(
        "pool, usage_date, recipient, cost_basis, amount, pool_amount"
    ).fetchall():
        from_split[(pool, day, team, basis)] += amount
        pool_amounts[(pool, day, basis)].add(pool_amount)
    assert {k: v for k, v in from_split.items() if v} == {k: v for k, v in from_alloc.items() if v}
    for (pool, day, basis), amounts in pool_amounts.items():
        assert len(amounts) == 1
        assert sum(v for k, v in from_split.items() if k[0] == pool and k[1] == day and k[3] == basis) == amounts.pop()


def test_split_is_deterministic(con, tmp_path):
    insert(con, _conservation_rows())
    config = write_config(tmp_path, rules=CONSERVATION_RULES, pools=CONSERVATION_POOLS)
    first = build_cost_allocation(con, config, PERIOD).fetchall()
    con.execute("SET threads = 1")
    assert build_cost_allocation(con, config, PERIOD).fetchall() == first
