"""Share KPIs stay within their base when offsets (discounts, credits, refunds) name a resource.

Regression for the bench's widened month, where the kpi_shares gate failed with tagging compliance
1117.49 / 1046.73: the widening gave every EdpDiscount a resource id ('' || '-36528'), so untagged
discounts entered the taggable denominator (lowering it) but never the numerator. Taggable cost is
gross of offsets on both sides. Every figure below is computed by hand from the bill.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from allocation_builders import write_config
from test_efficiency_builders import (
    ACCOUNT_A,
    ACCOUNT_B,
    FULL_TAGS,
    PERIOD,
    connect,
    credit_config,
    empty_insight_tables,
    insert,
    item,
)
from transforms.efficiency import build_efficiency_kpis, check_kpi_shares

FEB1 = date(2025, 2, 1)
MON = date(2025, 2, 3)  # every line item is on Feb 3: the week of Feb 3 equals the month

# The resource id the bench widening gives a line item that had none ('' || '-' || its hour bucket).
WIDENED_EMPTY_ID = "-36528"


def offset(amount: str, line_item_type: str, charge_category: str, *, account: str, tags: dict | None = None,
           resource_id: str = WIDENED_EMPTY_ID) -> dict:
    """A discount, credit or refund of ``amount`` (negative) with a resource id, as the bench month has them."""
    return item(None, amount, usage_type="", line_item_type=line_item_type, charge_category=charge_category,
                account=account, resource_id=resource_id, tags=tags)


def bill() -> list[dict]:
    return [
        # beta (owner of ACCOUNT_B): 6 fully tagged; an untagged EDP discount of -3 and credit of -2.
        item("beta", "6", account=ACCOUNT_B, resource_id="i-b1", tags=FULL_TAGS),
        offset("-3", "EdpDiscount", "Usage", account=ACCOUNT_B),
        offset("-2", "Credit", "Adjustment", account=ACCOUNT_B),
        # alpha (team tag, ACCOUNT_A): 10 fully tagged, 2 with the team tag only (product and
        # environment missing), and the EDP discount of its tagged instance, itemized with its tags.
        item("alpha", "10", resource_id="i-a1", tags=FULL_TAGS),
        item("alpha", "2", resource_id="i-a2"),
        offset("-1.2", "EdpDiscount", "Usage", account=ACCOUNT_A, resource_id="i-a1",
               tags={"team": "alpha"} | FULL_TAGS),
    ]


def tagging(tmp_path, extra_config: str = "") -> tuple[dict, list[str]]:
    """(grain, team, account) -> (numerator, denominator, value, applies) of tagging_compliance; the gate's failures."""
    con = connect()
    insert(con, bill())
    empty_insight_tables(con)
    build_efficiency_kpis(
        con, PERIOD, allocation_config=write_config(tmp_path, extra=extra_config), config=credit_config(tmp_path)
    ).create("efficiency_kpis")
    failures = check_kpi_shares(con, "efficiency_kpis", PERIOD)
    rows = con.execute(
        "SELECT grain, period_start, team, usage_account_id, numerator, denominator, value, applies "
        "FROM efficiency_kpis WHERE kpi = 'tagging_compliance'"
    ).fetchall()
    con.close()
    out = {}
    for grain, start, team, account, num, den, value, applies in rows:
        assert start == (FEB1 if grain == "month" else MON)
        out[(grain, team, account)] = (num, den, value, applies)
    return out, failures


def assert_share(table: dict, key: tuple, num: str, den: str) -> None:
    got_num, got_den, value, applies = table[key]
    assert (got_num, got_den) == (Decimal(num), Decimal(den)), key
    assert applies and value == pytest.approx(float(Decimal(num) / Decimal(den)), abs=1e-12)


@pytest.mark.parametrize("grain", ["month", "week"])
def test_untagged_discounts_do_not_shrink_the_taggable_base(tmp_path, grain):
    table, failures = tagging(tmp_path)
    # beta: 6 of 6 tagged. Counting the untagged -3 discount in the base alone gave 6 / 3 = 2.
    assert_share(table, (grain, "beta", None), "6.00", "6.00")
    assert_share(table, (grain, "beta", ACCOUNT_B), "6.00", "6.00")
    # alpha: 10 of 10 + 2. With its tagged -1.2 discount on both sides it was 8.8 / 10.8.
    assert_share(table, (grain, "alpha", None), "10.00", "12.00")
    # Organization: 16 of 18 (was 14.8 / 13.8 > 1).
    assert_share(table, (grain, None, None), "16.00", "18.00")
    assert_share(table, (grain, None, ACCOUNT_A), "10.00", "12.00")
    assert failures == []


def test_credits_stay_out_when_adjustments_are_taggable(tmp_path):
    # With Adjustment taggable, beta's untagged -2 credit (resource id set) would make it 6 / 1.
    table, failures = tagging(tmp_path, "tag_compliance:\n  taggable_charge_categories: [Usage, Adjustment]\n")
    assert_share(table, ("month", "beta", None), "6.00", "6.00")
    assert_share(table, ("month", None, None), "16.00", "18.00")
    assert failures == []
