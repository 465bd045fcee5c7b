"""One billing period's plan: which streams run when, at what rates, under which commitments.

The plan fixes everything the row builder needs before a single row exists, including the exact
row count: regular streams (a prefix of the pool), labeled anomaly streams, the fixed rows
(hourly Savings Plan fees, RI fees, support, tax, credits, refund, EDP discount) and filler
streams that absorb the remainder, so that the month has exactly ``rows_per_month`` rows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from transforms import periods
from transforms.generate import catalog as cat
from transforms.generate import org
from transforms.generate.pool import (
    ACCOUNT_INDEX, ACCOUNT_PAYER, CHUNK, FILLER_TEMPLATE, FORCED_COUNT, ON_DEMAND, RESERVED, SAVINGS_PLAN,
    SPOT, StreamPool,
)

MIN_ROWS_PER_MONTH = 10_000
EDP_RATE: tuple[float, ...] = (0.05, 0.03)  # per payer: negotiated Enterprise Discount Program
TAX: tuple[tuple[str, float], ...] = (("US Sales Tax", 0.06), ("VAT", 0.20))  # per payer
CREDITS_PER_MONTH = 2
REFUNDS_PER_MONTH = 1
SUPPORT_TIERS: tuple[tuple[float, float], ...] = ((10_000, 0.10), (80_000, 0.07), (250_000, 0.05), (float("inf"), 0.03))
SUPPORT_MINIMUM = 100.0
# Share of all amortized spend without a team tag: fees, tax and unused commitments, plus usage
# streams left untagged to make up the rest.
UNTAGGED_SHARE = 1 / 3
FILLER_KEY = 1 << 40
ANOMALY_KEY = 2 << 40
ANOMALY_KEY_STRIDE = 1 << 32
SP_HEADROOM = 1.03  # commitment = peak covered hourly spend x headroom, rounded up
RI_SPARE_FROM = 5  # reservations covering at least this many streams carry one spare instance

SERVICE_CODES: tuple[str, ...] = tuple(dict.fromkeys(
    [s.service_code for s in cat.SKUS] + ["ComputeSavingsPlans", "AWSSupportBusiness"]
))
SERVICE_INDEX: dict[str, int] = {c: i for i, c in enumerate(SERVICE_CODES)}
_SKU_SERVICE = np.array([SERVICE_INDEX[s.service_code] for s in cat.SKUS], dtype=np.int16)
SKU_KIND = np.array([s.kind for s in cat.SKUS], dtype=np.int8)
SKU_PROFILE = np.array([s.profile for s in cat.SKUS], dtype=np.int8)
_SKU_PROCESSOR = [s.processor for s in cat.SKUS]
PAYER_ACCOUNT = np.array([ACCOUNT_INDEX[next(a.name for a in org.ACCOUNTS if a.account_id == p)] for p in org.PAYERS])


@dataclass(frozen=True)
class RiGroup:
    """One reservation: ``count`` instances of a SKU in a region, bought by the payer account."""

    payer: int
    sku: int
    region: int
    count: int
    used_hours: int
    arn: str
    subscription_id: str


@dataclass(frozen=True)
class AnomalySpec:
    id: str
    team: int
    service_code: str
    account: int
    start_day: int  # 0-based day of the month
    days: int
    sku: int
    region: int
    streams: int
    usage: float  # units per hour per stream
    resource_ids: tuple[str, ...]


@dataclass
class MonthPlan:
    period: str
    position: int  # index of the month among the generated months (drives schema drift)
    hours: int
    rows: int
    # Streams of the month, in emission order (arrays indexed by month stream).
    src: np.ndarray  # pool index, -1 for filler and anomaly streams
    stream_key: np.ndarray  # stable identity (pool index, or FILLER_KEY / ANOMALY_KEY ranges)
    sku: np.ndarray
    account: np.ndarray
    team: np.ndarray
    region: np.ndarray
    az: np.ndarray
    purchase: np.ndarray
    start: np.ndarray
    end: np.ndarray
    mean_usage: np.ndarray
    od_rate: np.ndarray
    unblended_rate: np.ndarray
    effective_rate: np.ndarray  # Savings Plan rate or reservation effective rate, else 0
    ri_upfront_rate: np.ndarray
    ri_recurring_rate: np.ndarray
    commitment: np.ndarray  # payer index of the covering Savings Plan / RI group index, else -1
    anomaly: np.ndarray  # anomaly index, else -1
    tagged: np.ndarray
    untagged_key: np.ndarray  # priority to be left untagged (pool value; -inf: never)
    # Tag attributes (pool values; defaults for anomaly and filler streams).
    team_key: np.ndarray
    has_product: np.ndarray
    environment: np.ndarray
    has_cost_center: np.ndarray
    has_application: np.ndarray
    created_by: np.ndarray
    cluster: np.ndarray
    resource_id: list[str]
    line_item_id: list[str]
    negation_id: list[str]
    sp_commitment: np.ndarray  # $/hour per payer
    sp_arn: tuple[str, ...]
    ri_groups: tuple[RiGroup, ...]
    anomalies: tuple[AnomalySpec, ...]
    positive_combos: tuple[tuple[int, int], ...]  # (account, service) pairs with a positive charge
    credit_combos: tuple[tuple[int, int], ...]
    refund_combos: tuple[tuple[int, int], ...]
    fixed_rows: int

    @property
    def streams(self) -> int:
        return len(self.sku)

    @property
    def days(self) -> int:
        return self.hours // 24

    def stream_rows(self) -> int:
        lifetimes = (self.end - self.start).astype(np.int64)
        return int(lifetimes.sum() + lifetimes[self.purchase == SAVINGS_PLAN].sum())


def month_code(period: str) -> int:
    year, month = (int(x) for x in periods.validate(period).split("-"))
    return year * 12 + month


def _stable_hex(*parts: object, length: int = 17) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:length]


def sp_arn(seed: int, payer: int) -> str:
    h = _stable_hex(seed, "sp", payer, length=32)
    return f"arn:aws:savingsplans::{org.PAYERS[payer]}:savingsplan/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _ri_identity(seed: int, payer: int, sku: int, region: int) -> tuple[str, str]:
    s = cat.SKUS[sku]
    h = _stable_hex(seed, "ri", payer, s.key, region, length=32)
    reg = cat.REGIONS[region].code
    if s.service_code == "AmazonRDS":
        arn = f"arn:aws:rds:{reg}:{org.PAYERS[payer]}:ri:ri-{h[:12]}"
    else:
        arn = f"arn:aws:ec2:{reg}:{org.PAYERS[payer]}:reserved-instances/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return arn, str(int(h[:8], 16))


def stream_rates(sku: np.ndarray, region: np.ndarray, purchase: np.ndarray, spot_factor: np.ndarray) -> dict[str, np.ndarray]:
    """Public, unblended and commitment rates of each stream (rounded as AWS prints them)."""
    od = np.array([cat.region_rate(cat.SKUS[s], r) for s, r in zip(sku.tolist(), region.tolist())])
    unblended = od.copy()
    spot = purchase == SPOT
    unblended[spot] = np.maximum(np.round(od[spot] * spot_factor[spot], 4), 0.0001)
    unblended[purchase == RESERVED] = 0.0
    discount = np.zeros(len(sku))
    sp = purchase == SAVINGS_PLAN
    discount[sp] = [cat.SP_DISCOUNT[_SKU_PROCESSOR[s]] for s in sku[sp]]
    ri = purchase == RESERVED
    discount[ri] = cat.RI_DISCOUNT
    effective = np.where(sp | ri, np.round(od * (1 - discount), 6), 0.0)
    upfront = np.where(ri, np.round(effective / 2, 6), 0.0)
    recurring = np.where(ri, np.round(effective - upfront, 6), 0.0)
    return {"od": od, "unblended": unblended, "effective": effective, "upfront": upfront, "recurring": recurring}


def amortized_rate(rates: dict[str, np.ndarray], purchase: np.ndarray) -> np.ndarray:
    committed = (purchase == SAVINGS_PLAN) | (purchase == RESERVED)
    return np.where(committed, rates["effective"], rates["unblended"])


def expected_units_per_hour(sku: np.ndarray, mean_usage: np.ndarray, hours: int) -> np.ndarray:
    """Mean line_item_usage_amount per hour (storage accrues size / hours GB-Mo each hour)."""
    return np.where(SKU_PROFILE[sku] == cat.STORAGE, mean_usage / hours, mean_usage)


def _lifetimes(pool: StreamPool, lo: int, hi: int, seed: int, code: int, hours: int, cap: int) -> tuple[np.ndarray, np.ndarray]:
    starts, ends = [], []
    for chunk in range(lo // CHUNK, (hi + CHUNK - 1) // CHUNK):
        rng = np.random.default_rng([seed, 2, code, chunk])
        sl = slice(chunk * CHUNK, (chunk + 1) * CHUNK)
        kind = SKU_KIND[pool.sku[sl]]
        purchase = pool.purchase[sl]
        n = len(kind)
        lo_len = np.where(purchase == SPOT, 2, np.where(kind == cat.EC2, 4, 24))
        hi_len = np.where(purchase == SPOT, 48, np.where(kind == cat.EC2, 400, hours))
        length = rng.integers(lo_len, np.minimum(hi_len, hours) + 1)
        length = np.where(pool.long_lived[sl], hours, length)
        # Committed capacity runs steadily even in small bills (else commitments sit unused).
        committed = (purchase == SAVINGS_PLAN) | (purchase == RESERVED)
        length = np.where(committed, length, np.minimum(length, cap))
        start = (rng.random(n) * (hours - length + 1)).astype(np.int64)
        starts.append(start)
        ends.append(start + length)
    return np.concatenate(starts).astype(np.int32), np.concatenate(ends).astype(np.int32)


def _combos(account: np.ndarray, sku: np.ndarray, purchase: np.ndarray, ri_keys: set[tuple[int, int, int]]) -> set[tuple[int, int]]:
    """(account, service) pairs that get a positive charge, hence a Tax line (and an EDP line)."""
    paying = (purchase == ON_DEMAND) | (purchase == SPOT)
    combos = set(zip(account[paying].tolist(), _SKU_SERVICE[sku[paying]].tolist()))
    for payer, s, _region in ri_keys:
        combos.add((int(PAYER_ACCOUNT[payer]), int(_SKU_SERVICE[s])))
    for payer in range(len(org.PAYERS)):
        combos.add((int(PAYER_ACCOUNT[payer]), SERVICE_INDEX["ComputeSavingsPlans"]))
        combos.add((int(PAYER_ACCOUNT[payer]), SERVICE_INDEX["AWSSupportBusiness"]))
    return combos


def _ri_keys(account: np.ndarray, sku: np.ndarray, region: np.ndarray, purchase: np.ndarray) -> set[tuple[int, int, int]]:
    ri = purchase == RESERVED
    return set(zip(ACCOUNT_PAYER[account[ri]].tolist(), sku[ri].tolist(), region[ri].tolist()))


def fixed_row_count(combos: set[tuple[int, int]], ri_groups: int, hours: int) -> int:
    support = SERVICE_INDEX["AWSSupportBusiness"]
    payers = len(org.PAYERS)
    taxed = len(combos)
    discounted = sum(1 for _, s in combos if s != support)
    return payers * hours + ri_groups + payers + taxed + discounted + CREDITS_PER_MONTH + REFUNDS_PER_MONTH


def _prefix(rows: np.ndarray, target: int) -> int:
    """Largest n such that the first n streams have at most ``target`` rows."""
    cum = np.cumsum(rows)
    return int(np.searchsorted(cum, target, side="right"))


def plan_month(pool: StreamPool, period: str, position: int, rows: int, seed: int, anomalies: bool) -> MonthPlan:
    """The plan of ``period`` with exactly ``rows`` line items."""
    if rows < MIN_ROWS_PER_MONTH:
        raise ValueError(f"rows_per_month={rows} is below the minimum of {MIN_ROWS_PER_MONTH:,} "
                         f"(a month needs room for hourly Savings Plan fees and every service)")
    hours = periods.days_in(period) * 24
    code = month_code(period)
    # Small bills: shorter lifetimes, so that more distinct resources fit in the month.
    cap = int(np.clip(rows // 80, 24, hours))

    start = np.zeros(0, np.int32)
    end = np.zeros(0, np.int32)
    # A first guess of the pool size (streams average well over cap / 2 rows), then grow.
    pool.ensure(max(CHUNK, rows // max(1, cap // 2)))
    while True:
        if len(start) < len(pool):
            s, e = _lifetimes(pool, len(start), len(pool), seed, code, hours, cap)
            start, end = np.concatenate([start, s]), np.concatenate([end, e])
        mult = np.where(pool.purchase == SAVINGS_PLAN, 2, 1)
        stream_rows = (end - start).astype(np.int64) * mult
        if stream_rows.sum() >= rows:
            break
        pool.ensure(len(pool) + CHUNK)

    # Fixed rows grow with the (account, service) pairs and reservations in use: bound them by
    # the streams that could fit in the month at most (not by the pool, whose size has history).
    upper = slice(0, min(len(pool), _prefix(stream_rows, rows) + 1))
    ri_all = _ri_keys(pool.account[upper], pool.sku[upper], pool.region[upper], pool.purchase[upper])
    combos_all = _combos(pool.account[upper], pool.sku[upper], pool.purchase[upper], ri_all)
    fixed_upper = fixed_row_count(combos_all, len(ri_all), hours)
    forced_rows = int(stream_rows[:FORCED_COUNT].sum())
    if rows - fixed_upper < forced_rows:
        raise ValueError(f"rows_per_month={rows} is too small for {period}: the fixed rows and one stream "
                         f"per service need {fixed_upper + forced_rows:,}")
    rates_all = stream_rates(pool.sku, pool.region, pool.purchase, pool.spot_factor)

    # Anomalies are planned (and their rows reserved) whether or not they are written, so that
    # a bill without them differs from the labeled one only by filler rows in their place.
    n0 = _prefix(stream_rows, rows - fixed_upper)
    specs = _plan_anomalies(pool, n0, start, end, rates_all, period, hours, seed, code)
    anomaly_rows = sum(a.streams * a.days * 24 for a in specs)
    budget = rows - fixed_upper - forced_rows
    while specs and anomaly_rows > budget:  # tiny months: drop the last anomalies
        specs = specs[:-1]
        anomaly_rows = sum(a.streams * a.days * 24 for a in specs)
    n = max(_prefix(stream_rows, rows - fixed_upper - anomaly_rows), FORCED_COUNT)
    if not anomalies:
        specs, anomaly_rows = (), 0

    idx = np.arange(n)
    ri_keys = _ri_keys(pool.account[idx], pool.sku[idx], pool.region[idx], pool.purchase[idx])
    combos = _combos(pool.account[idx], pool.sku[idx], pool.purchase[idx], ri_keys)
    fixed = fixed_row_count(combos, len(ri_keys), hours)
    gap = rows - anomaly_rows - fixed - int(stream_rows[:n].sum())
    assert gap >= 0, "the fixed-row bound must hold for every prefix"

    plan = _assemble(pool, n, start, end, rates_all, specs, gap, hours, seed, code, period)
    plan.position = position
    plan.rows = rows
    plan.positive_combos = tuple(sorted(combos))
    plan.fixed_rows = fixed
    _assign_commitments(plan, seed, ri_keys)
    _choose_untagged(plan)
    _choose_adjustments(plan, seed, code)
    total = plan.stream_rows() + plan.fixed_rows
    assert total == rows, f"planned {total} rows for {period}, expected {rows}"
    return plan


def _plan_anomalies(pool: StreamPool, n: int, start: np.ndarray, end: np.ndarray, rates: dict[str, np.ndarray],
                    period: str, hours: int, seed: int, code: int) -> tuple[AnomalySpec, ...]:
    """Two or three cost spikes, each for one team and service in one account over 1-3 days."""
    rng = np.random.default_rng([seed, 3, code])
    days = hours // 24
    sl = slice(0, n)
    sku, team, account, purchase = pool.sku[sl], pool.team[sl], pool.account[sl], pool.purchase[sl]
    service = _SKU_SERVICE[sku]
    units = expected_units_per_hour(sku, pool.mean_usage[sl], hours)
    spend = (end[sl] - start[sl]) * units * amortized_rate({k: v[sl] for k, v in rates.items()}, purchase)
    # Baseline: each team x service's expected amortized cost per day, over all its accounts.
    baseline: dict[tuple[int, int], float] = {}
    for t, s, x in zip(team.tolist(), service.tolist(), spend.tolist()):
        baseline[(t, s)] = baseline.get((t, s), 0.0) + x / days
    spike_services = {SERVICE_INDEX[c]: key for c, key in (
        ("AmazonEC2", "AmazonEC2:BoxUsage:c5.4xlarge:RunInstances"),
        ("AWSLambda", "AWSLambda:Lambda-GB-Second:Invoke"),
        ("AmazonS3", "AmazonS3:Requests-Tier1:PutObject"),
        ("AWSDataTransfer", "AWSDataTransfer:DataTransfer-Out-Bytes:RunInstances"),
    )}
    paying = (purchase == ON_DEMAND) | (purchase == SPOT)
    candidates: dict[tuple[int, int, int], tuple[float, int]] = {}
    for i in np.nonzero(paying & np.isin(service, list(spike_services)))[0].tolist():
        key = (int(team[i]), int(service[i]), int(account[i]))
        w, region = candidates.get(key, (0.0, int(pool.region[i])))
        candidates[key] = (w + float(spend[i]), region)
    keys = sorted(candidates)
    weights = np.array([candidates[k][0] for k in keys])
    count = int(rng.integers(2, 4))
    out: list[AnomalySpec] = []
    used: set[int] = set()  # one anomaly per team and month
    for _ in range(count):
        open_keys = [i for i, k in enumerate(keys) if k[0] not in used and weights[i] > 0]
        if not open_keys:
            break
        w = weights[open_keys]
        t, s, a = keys[open_keys[int(rng.choice(len(open_keys), p=w / w.sum()))]]
        used.add(t)
        region = candidates[(t, s, a)][1]
        duration = int(rng.integers(1, 4))
        start_day = int(rng.integers(2, days - duration))
        factor = float(np.round(rng.uniform(3.0, 8.0), 2))
        extra_per_hour = factor * baseline[(t, s)] / 24
        sku_idx = cat.SKU_INDEX[spike_services[s]]
        rate = cat.region_rate(cat.SKUS[sku_idx], region)
        if cat.SKUS[sku_idx].kind == cat.EC2:
            sku_idx, rate = _spike_instance(region, extra_per_hour)
            streams, usage = max(1, int(np.ceil(extra_per_hour / rate))), 1.0
        else:
            streams, usage = 1, float(np.round(extra_per_hour / rate, 3))
        ids = _anomaly_resource_ids(rng, cat.SKUS[sku_idx], region, a, t, streams)
        out.append(AnomalySpec(
            id=f"{period}-{len(out) + 1}", team=t, service_code=SERVICE_CODES[s], account=a,
            start_day=start_day, days=duration, sku=sku_idx, region=region,
            streams=streams, usage=usage, resource_ids=ids,
        ))
    return tuple(out)


def _spike_instance(region: int, extra_per_hour: float) -> tuple[int, float]:
    """The largest Linux instance type of the catalog that costs at most the extra per hour."""
    options = [(cat.region_rate(s, region), i) for i, s in enumerate(cat.SKUS)
               if s.kind == cat.EC2 and not s.windows and s.processor == "intel" and s.instance_type.startswith("c5.")]
    options.sort()
    fitting = [o for o in options if o[0] <= extra_per_hour]
    rate, idx = fitting[-1] if fitting else options[0]
    return idx, rate


def _anomaly_resource_ids(rng: np.random.Generator, sku: cat.Sku, region: int, account: int, team: int, n: int) -> tuple[str, ...]:
    hexes = rng.integers(0, 2**62, size=n).tolist()
    acct = org.ACCOUNTS[account].account_id
    reg = cat.REGIONS[region].code
    tname = org.TEAMS[team].name
    if sku.kind == cat.LAMBDA:
        return tuple(f"arn:aws:lambda:{reg}:{acct}:function:{tname}-reprocess-{h % 16**6:06x}" for h in hexes)
    if sku.kind == cat.S3_REQUESTS:
        return tuple(f"{tname}-ingest-{h % 16**8:08x}" for h in hexes)
    return tuple(f"i-{h:017x}" for h in hexes)  # EC2 instances; data transfer is billed to instances


def _assemble(pool: StreamPool, n: int, start: np.ndarray, end: np.ndarray, rates: dict[str, np.ndarray],
              specs: tuple[AnomalySpec, ...], gap: int, hours: int, seed: int, code: int, period: str) -> MonthPlan:
    """Regular, filler and anomaly streams as one set of arrays, sorted for emission."""
    src = [np.arange(n)]
    # Filler: copies of a forced on-demand Lambda stream (its account and service already exist).
    fill_lengths = [hours] * (gap // hours) + ([gap % hours] if gap % hours else [])
    src.append(np.full(len(fill_lengths), FILLER_TEMPLATE))
    a_src = np.concatenate([np.full(a.streams, -1) for a in specs]) if specs else np.zeros(0, np.int64)
    base = np.concatenate(src)
    m = len(base)
    k = len(a_src)

    def take(arr: np.ndarray, default: object, dtype: object = None) -> np.ndarray:
        anomaly_part = np.full(k, default, dtype=dtype or arr.dtype)
        return np.concatenate([arr[base], anomaly_part])

    f_rng = np.random.default_rng([seed, 4, code])
    sku = take(pool.sku, 0)
    account = take(pool.account, 0)
    team = take(pool.team, 0)
    region = take(pool.region, 0)
    az = take(pool.az, -1)
    purchase = take(pool.purchase, ON_DEMAND)
    st = np.concatenate([start[:n], np.zeros(len(fill_lengths), np.int32), np.zeros(k, np.int32)])
    en = np.concatenate([end[:n], np.array(fill_lengths, dtype=np.int32), np.zeros(k, np.int32)])
    mean_usage = take(pool.mean_usage, 0.0)
    mean_usage[n:m] = np.round(mean_usage[n:m] * f_rng.uniform(0.5, 1.5, m - n), 3)
    anomaly = np.full(m + k, -1, dtype=np.int16)
    resource_id = [pool.resource_id[i] for i in base[:n]]
    acct = org.ACCOUNTS[int(pool.account[FILLER_TEMPLATE])].account_id
    reg = cat.REGIONS[int(pool.region[FILLER_TEMPLATE])].code
    resource_id += [f"arn:aws:lambda:{reg}:{acct}:function:checkout-batch-{_stable_hex(seed, code, j, length=6)}"
                    for j in range(m - n)]
    line_item_id = [pool.line_item_id[i] for i in base[:n]] + [_stable_hex(seed, code, "fill", j, length=52) for j in range(m - n)]
    negation_id = [pool.negation_id[i] for i in base[:n]] + [""] * (m - n)
    pos = m
    for a_idx, a in enumerate(specs):
        sl = slice(pos, pos + a.streams)
        sku[sl], account[sl], team[sl], region[sl] = a.sku, a.account, a.team, a.region
        az[sl] = 0 if cat.SKUS[a.sku].kind == cat.EC2 else -1
        st[sl], en[sl] = a.start_day * 24, (a.start_day + a.days) * 24
        mean_usage[sl] = a.usage
        anomaly[sl] = a_idx
        resource_id += list(a.resource_ids)
        line_item_id += [_stable_hex(seed, code, "anomaly", a_idx, j, length=52) for j in range(a.streams)]
        negation_id += [""] * a.streams
        pos += a.streams

    spot_factor = take(pool.spot_factor, 1.0)
    r = stream_rates(sku, region, purchase, spot_factor)
    # Tag attributes: anomaly streams are fully tagged with the canonical team key.
    tag = {
        "team_key": take(pool.team_key, 0), "has_product": take(pool.has_product, True),
        "environment": take(pool.environment, 0), "has_cost_center": take(pool.has_cost_center, True),
        "has_application": take(pool.has_application, True), "created_by": take(pool.created_by, -1),
        "cluster": take(pool.cluster, -1), "untagged_key": take(pool.untagged_key, -np.inf),
    }
    # Identity of each stream for hashed per-hour noise: the pool index, or a reserved range.
    stream_key = np.concatenate([
        base[:n].astype(np.int64), FILLER_KEY + np.arange(m - n, dtype=np.int64),
        np.concatenate([ANOMALY_KEY + a * ANOMALY_KEY_STRIDE + np.arange(spec.streams) for a, spec in enumerate(specs)])
        if specs else np.zeros(0, np.int64),
    ])
    order = np.lexsort((st, sku, SKU_KIND[sku], account))
    plan = MonthPlan(
        period=period, position=0, hours=hours, rows=0,
        src=np.concatenate([base[:n], np.full(m - n, -1), a_src])[order], stream_key=stream_key[order],
        sku=sku[order], account=account[order], team=team[order], region=region[order], az=az[order],
        purchase=purchase[order], start=st[order], end=en[order], mean_usage=mean_usage[order],
        od_rate=r["od"][order], unblended_rate=r["unblended"][order], effective_rate=r["effective"][order],
        ri_upfront_rate=r["upfront"][order], ri_recurring_rate=r["recurring"][order],
        commitment=np.full(m + k, -1, dtype=np.int16), anomaly=anomaly[order], tagged=np.ones(m + k, bool),
        team_key=tag["team_key"][order], has_product=tag["has_product"][order],
        environment=tag["environment"][order], has_cost_center=tag["has_cost_center"][order],
        has_application=tag["has_application"][order], created_by=tag["created_by"][order],
        cluster=tag["cluster"][order], untagged_key=tag["untagged_key"][order],
        resource_id=[resource_id[i] for i in order], line_item_id=[line_item_id[i] for i in order],
        negation_id=[negation_id[i] for i in order],
        sp_commitment=np.zeros(len(org.PAYERS)), sp_arn=tuple(sp_arn(seed, p) for p in range(len(org.PAYERS))),
        ri_groups=(), anomalies=specs, positive_combos=(), credit_combos=(), refund_combos=(), fixed_rows=0,
    )
    return plan


def _assign_commitments(plan: MonthPlan, seed: int, ri_keys: set[tuple[int, int, int]]) -> None:
    """Size each payer's Savings Plan to its peak covered hour; count each reservation's instances."""
    payer = ACCOUNT_PAYER[plan.account]
    sp = plan.purchase == SAVINGS_PLAN
    plan.commitment[sp] = payer[sp]
    commit = np.zeros(len(org.PAYERS))
    for p in range(len(org.PAYERS)):
        covered = sp & (payer == p)
        hourly = np.zeros(plan.hours + 1)
        np.add.at(hourly, plan.start[covered], plan.effective_rate[covered])
        np.add.at(hourly, plan.end[covered], -plan.effective_rate[covered])
        peak = float(np.cumsum(hourly)[:-1].max(initial=0.0))
        commit[p] = _nice_ceiling(max(peak * SP_HEADROOM, 0.01))
    plan.sp_commitment = commit

    groups = []
    ri = plan.purchase == RESERVED
    for g, (p, s, r) in enumerate(sorted(ri_keys)):
        members = ri & (payer == p) & (plan.sku == s) & (plan.region == r)
        plan.commitment[members] = g
        active = np.zeros(plan.hours + 1, dtype=np.int64)
        np.add.at(active, plan.start[members], 1)
        np.add.at(active, plan.end[members], -1)
        peak = int(np.cumsum(active)[:-1].max(initial=0))
        count = peak + (1 if members.sum() >= RI_SPARE_FROM else 0)  # a spare: some unused hours
        used = int((plan.end[members] - plan.start[members]).sum())
        arn, sub = _ri_identity(seed, p, s, r)
        groups.append(RiGroup(payer=p, sku=s, region=r, count=count, used_hours=used, arn=arn, subscription_id=sub))
    plan.ri_groups = tuple(groups)


def _nice_ceiling(x: float) -> float:
    """Round up to two significant digits (a commitment a person would buy)."""
    magnitude = 10 ** (np.floor(np.log10(x)) - 1)
    return float(np.ceil(x / magnitude) * magnitude)


def _choose_untagged(plan: MonthPlan) -> None:
    """Leave streams untagged, most untag-prone first, so that about a third of all spend is.

    Fees, tax and unused commitments carry no tags at all; their expected amount is estimated
    here so that usage streams make up only the rest of the untagged third.
    """
    # Only pool streams count: filler and anomaly streams (which differ between a labeled and
    # an unlabeled bill) must not move the choice.
    regular = plan.src >= 0
    units = expected_units_per_hour(plan.sku, plan.mean_usage, plan.hours)
    lifetime = np.where(regular, plan.end - plan.start, 0)
    rates = {"unblended": plan.unblended_rate, "effective": plan.effective_rate}
    spend = lifetime * units * amortized_rate(rates, plan.purchase)
    payer = ACCOUNT_PAYER[plan.account]
    sp = plan.purchase == SAVINGS_PLAN
    fixed = 0.0
    for p in range(len(org.PAYERS)):
        mine = payer == p
        commitment = plan.sp_commitment[p] * plan.hours
        ri_fees = sum(g.count * plan.hours * float(plan.ri_recurring_rate[plan.commitment == i][0])
                      for i, g in enumerate(plan.ri_groups) if g.payer == p and plan.purchase[plan.commitment == i][0] == RESERVED)
        unblended = float((lifetime * units * plan.unblended_rate)[mine & ~sp].sum()) + commitment + ri_fees
        net = unblended * (1 - EDP_RATE[p])
        fixed += TAX[p][1] * net + max(SUPPORT_MINIMUM, tiered_support(net)) - EDP_RATE[p] * unblended
        fixed += commitment - float(spend[mine & sp].sum())
    for i, g in enumerate(plan.ri_groups):
        members = (plan.commitment == i) & (plan.purchase == RESERVED)
        fixed += (g.count * plan.hours - g.used_hours) * float(plan.effective_rate[members][0])
    target = max(0.0, UNTAGGED_SHARE * (spend.sum() + fixed) - fixed)
    key = plan.untagged_key
    eligible = regular & np.isfinite(key)
    order = np.nonzero(eligible)[0][np.argsort(-key[eligible], kind="stable")]
    left = target
    for i, cost in zip(order.tolist(), spend[order].tolist()):  # greedy: skip what does not fit
        if cost <= left:
            plan.tagged[i] = False
            left -= cost


def tiered_support(base: float) -> float:
    """AWS Business support: a decreasing percentage of each tier of the monthly charges."""
    fee, lower = 0.0, 0.0
    for upper, rate in SUPPORT_TIERS:
        if base > lower:
            fee += (min(base, upper) - lower) * rate
        lower = upper
    return fee


def _choose_adjustments(plan: MonthPlan, seed: int, code: int) -> None:
    rng = np.random.default_rng([seed, 5, code])
    support = SERVICE_INDEX["AWSSupportBusiness"]
    ec2 = SERVICE_INDEX["AmazonEC2"]
    payer_accounts = set(PAYER_ACCOUNT.tolist())
    combos = [c for c in plan.positive_combos if c[1] != support]
    linked_ec2 = [c for c in combos if c[1] == ec2 and c[0] not in payer_accounts] or combos
    picks = rng.choice(len(linked_ec2), size=CREDITS_PER_MONTH, replace=len(linked_ec2) < CREDITS_PER_MONTH)
    plan.credit_combos = tuple(linked_ec2[i] for i in sorted(picks.tolist()))
    picks = rng.choice(len(combos), size=REFUNDS_PER_MONTH, replace=False)
    plan.refund_combos = tuple(combos[i] for i in sorted(picks.tolist()))
