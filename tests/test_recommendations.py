"""recommendations on known inputs: savings at goal by hand, the steady-baseline cap, ranking, resources.

Two days of data (Feb 1-2) in a 28-day month: every amount is scaled by 14 to a month.
Config rates (test_efficiency_builders.CREDIT_CONFIG): graviton 0.20, spot 0.55, commitment 0.20,
gp3 0.20, s3 tiering 0.30, previous generation 0.10; top_n 2, min savings 0.10, 2 resources listed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from test_efficiency_builders import ACCOUNT_B, PERIOD, allocation_config, connect, credit_config, insert, item
from transforms.efficiency import build_recommendations

D1, D2 = date(2025, 2, 1), date(2025, 2, 2)


def bill() -> list[dict]:
    rows = []
    for day in (D1, D2):
        # alpha: m5 i-1 (3 a day) and i-2 (1), m7g i-4 (1), all on demand; c5 i-3 on day 1 only.
        rows += [
            item("alpha", "3", day=day, processor="Intel", resource_id="i-1"),
            item("alpha", "1", day=day, processor="Intel", resource_id="i-2"),
            item("alpha", "1", day=day, usage_type="BoxUsage:m7g.large", processor="Graviton", resource_id="i-4"),
        ]
        # beta: gp2 2.5 a day; S3 Standard in bucket-x (3) and bucket-y (1), IA in bucket-z (1).
        rows += [
            item("beta", "2.5", day=day, usage_type="EBS:VolumeUsage.gp2", volume="gp2", resource_id="vol-1",
                 account=ACCOUNT_B),
            item("beta", "3", day=day, service="AmazonS3", usage_type="TimedStorage-ByteHrs",
                 storage_class="General Purpose", resource_id="bucket-x", account=ACCOUNT_B),
            item("beta", "1", day=day, service="AmazonS3", usage_type="TimedStorage-ByteHrs",
                 storage_class="General Purpose", resource_id="bucket-y", account=ACCOUNT_B),
            item("beta", "1", day=day, service="AmazonS3", usage_type="TimedStorage-SIA-ByteHrs",
                 storage_class="Infrequent Access", resource_id="bucket-z", account=ACCOUNT_B),
        ]
    rows += [
        item("alpha", "1", day=D1, usage_type="BoxUsage:c5.large", processor="Intel", resource_id="i-3"),
        # beta's compute: m5 10 on day 1, previous-generation m4 3 on day 2: a steady baseline of 3 a day.
        item("beta", "10", day=D1, processor="Intel", resource_id="i-5", account=ACCOUNT_B),
        item("beta", "3", day=D2, usage_type="BoxUsage:m4.large", processor="Intel", resource_id="i-6",
             account=ACCOUNT_B),
    ]
    return rows


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recs")
    con = connect()
    insert(con, bill())
    rel = build_recommendations(con, PERIOD, allocation_config=allocation_config(tmp), config=credit_config(tmp))
    rows = rel.fetchall()
    cols = rel.columns
    yield [dict(zip(cols, r)) for r in rows]
    con.close()


def money(x: float) -> Decimal:
    return Decimal(str(round(x + 1e-9, 2))).quantize(Decimal("0.01"))


def test_alpha_savings_by_hand(recs):
    alpha = [r for r in recs if r["team"] == "alpha"]
    got = [(r["recommendation"], r["subject"], r["estimated_monthly_savings"], r["potential_monthly_savings"]) for r in alpha]
    # Commitment: coverage 0, goal 0.7 of 11 -> 7.7 to cover, x14 = 107.8 a month; steady baseline
    # min(6, 5) x 28 = 140 does not bind; x 0.20.
    # Spot: public 11, goal 0.1 -> 1.1, x14 x 0.55. Graviton: coverage 2/11, to move (0.2 - 2/11) / (9/11)
    # = 1/45 of each x86 family: m5 8 x 14 x 0.2 / 45; c5's 1 x 14 x 0.2 / 45 = 0.06 is below the minimum.
    assert got == [
        ("commitment", "compute", money(107.8 * 0.2), money(11 * 14 * 0.2)),
        ("spot", "ec2", money(1.1 * 14 * 0.55), money(11 * 14 * 0.55)),
        ("graviton", "m5", money(8 * 14 * 0.2 / 45), money(8 * 14 * 0.2)),
    ]
    assert [r["priority"] for r in alpha] == [1, 2, 3] and [r["sprint"] for r in alpha] == [True, True, False]
    spot = alpha[1]
    assert spot["resource_count"] == 4 and spot["top_resources"] == ["i-1", "i-2"]  # i-2 and i-4 tie: by id
    assert spot["category"] == "compute" and spot["current_value"] == 0.0 and spot["goal"] == 0.1
    assert alpha[0]["action"] == "Cover the steady compute on-demand baseline (140.00 a month) with Compute Savings Plan"
    assert alpha[2]["action"] == "Move m5 (AmazonEC2) to Graviton m7g"
    assert alpha[2]["monthly_base_cost"] == Decimal("112.00")


def test_beta_ranking_and_the_baseline_cap(recs):
    beta = [r for r in recs if r["team"] == "beta"]
    got = [(r["recommendation"], r["subject"], r["category"], r["estimated_monthly_savings"]) for r in beta]
    assert got == [
        # 13 on demand, 0.7 x 13 x 14 = 127.4 to cover, but the steady baseline is min(10, 3) x 28 = 84.
        ("commitment", "compute", "compute", money(84 * 0.2)),
        ("spot", "ec2", "compute", money(13 * 0.1 * 14 * 0.55)),
        # gp2 5, gp3 0: half of the 5 moves to reach 0.5.
        ("gp3", "gp2", "storage", money(5 * 0.5 * 14 * 0.2)),
        ("graviton", "m5", "compute", money(10 * 0.2 * 14 * 0.2)),
        # S3: 2 of 10 tiered, goal 0.3: 0.1 / 0.8 of each Standard bucket.
        ("s3_tiering", "bucket-x", "storage", money(6 * 0.125 * 14 * 0.3)),
        # Previous generation 3/13 against at most 0.1: (3/13 - 0.1) / (3/13) of the m4.
        ("previous_generation", "m4", "compute", money(3 * (1 - 1.3 / 3) * 14 * 0.1)),
        ("graviton", "m4", "compute", money(3 * 0.2 * 14 * 0.2)),
        ("s3_tiering", "bucket-y", "storage", money(2 * 0.125 * 14 * 0.3)),
    ]
    assert [r["priority"] for r in beta] == list(range(1, 9))
    assert [r["sprint"] for r in beta] == [True, True] + [False] * 6
    assert beta[4]["action"].startswith("Tier bucket bucket-x") and beta[4]["top_resources"] == ["bucket-x"]
    assert beta[5]["target"] == "m5" and beta[2]["top_resources"] == ["vol-1"]
    assert all(r["usage_account_ids"] == [ACCOUNT_B] for r in beta)
    assert len({r["recommendation_id"] for r in recs}) == len(recs)


def test_nothing_to_recommend_at_goal(tmp_path):
    con = connect()
    insert(con, [item("alpha", "5", usage_type="BoxUsage:m7g.large", processor="Graviton", resource_id="i-9",
                      purchase_option="Spot")])
    rel = build_recommendations(con, PERIOD, allocation_config=allocation_config(tmp_path),
                                config=credit_config(tmp_path))
    assert rel.fetchall() == []
