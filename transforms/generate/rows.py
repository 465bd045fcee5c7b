"""Line items of one month, built column-wise from its plan, in hour-ordered batches.

Each batch holds complete hours: usage rows of the active streams (Usage, SavingsPlanCoveredUsage,
DiscountedUsage) followed by one SavingsPlanNegation per covered row. The last batch holds the
hourly SavingsPlanRecurringFee rows and the monthly charges (RIFee, support Fee, Tax, Credit,
Refund, EdpDiscount), whose amounts come from totals accumulated over the usage batches.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from transforms import periods
from transforms.generate import catalog as cat
from transforms.generate import org
from transforms.generate.cur2_schema import CUR2_SCHEMA, SCALAR_COLUMNS, TIMESTAMP
from transforms.generate.encoding import MapSets, Vocab, codes_by_key, dict_column, float_text
from transforms.generate.month_plan import (
    EDP_RATE, PAYER_ACCOUNT, SERVICE_CODES, SERVICE_INDEX, SKU_PROFILE, SUPPORT_MINIMUM, TAX, MonthPlan,
    tiered_support,
)
from transforms.generate.pool import ACCOUNT_PAYER, CREATED_BY, ON_DEMAND, PLATFORM, RESERVED, SAVINGS_PLAN, SPOT

HOUR_MS = 3_600_000
NOISE_SIGMA = 0.15
STORAGE_GROWTH = 0.02  # provisioned storage grows 2 % over a month
CREDIT_SHARE = 0.08
REFUND_SHARE = 0.03
_SKU_SERVICE = np.array([SERVICE_INDEX[s.service_code] for s in cat.SKUS], dtype=np.int64)
_SKU_NF = np.array([s.normalization_factor for s in cat.SKUS])
_WEEKDAY = np.array([1.05, 1.07, 1.06, 1.05, 1.0, 0.82, 0.78])  # Monday .. Sunday
_OD_TERM, _RI_TERM, _RATE = "JRTCKXETXF", "HU7G6KETJZ", "6YS6EN2CT7"
_ENTITIES = ("Amazon Web Services, Inc.", "Amazon Web Services EMEA SARL")
_TYPE_BY_PURCHASE = {ON_DEMAND: "Usage", SPOT: "Usage", SAVINGS_PLAN: "SavingsPlanCoveredUsage", RESERVED: "DiscountedUsage"}
_STRING_COLUMNS = frozenset(f.name for f in CUR2_SCHEMA if f.type == pa.string())
_DOUBLE_COLUMNS = frozenset(f.name for f in CUR2_SCHEMA if f.type == pa.float64())


@dataclass
class RowBatch:
    """Rows ready for a format writer: scalar columns plus map columns as set ids."""

    columns: dict[str, pa.Array]
    tags: np.ndarray  # id into MonthRows.tag_sets
    product: np.ndarray  # id into MonthRows.product_sets
    cost_category: np.ndarray  # id into MonthRows.cost_category_sets
    discount: np.ndarray  # edp_discount value, 0 where the row has none

    @property
    def rows(self) -> int:
        return len(self.tags)


def _iso(moment: datetime) -> str:
    """Time as identity_time_interval writes it, e.g. 2025-01-01T00:00:00Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class MonthRows:
    """Builds the rows of one planned month and accumulates the totals its charges depend on."""

    def __init__(self, plan: MonthPlan, seed: int) -> None:
        self.plan = plan
        self.seed = seed
        self.start = datetime.combine(periods.first_day(plan.period), datetime.min.time())
        self.end = datetime.combine(periods.first_day(periods.next_period(plan.period)), datetime.min.time())
        self.start_ms = int((self.start - datetime(1970, 1, 1)).total_seconds() * 1000)
        self.end_ms = int((self.end - datetime(1970, 1, 1)).total_seconds() * 1000)
        hours = plan.hours
        self.hour_ms = self.start_ms + np.arange(hours + 1, dtype=np.int64) * HOUR_MS
        stamps = [self.start + timedelta(hours=h) for h in range(hours + 1)]
        self.intervals = pa.array([f"{_iso(stamps[h])}/{_iso(stamps[h + 1])}" for h in range(hours)])
        self.month_interval = f"{_iso(self.start)}/{_iso(self.end)}"
        self.shape = _usage_shape(self.start, hours)
        self.noise_seed = int(_splitmix(np.array([(seed * 1_000_003 + _month_code(plan.period)) % 2**64], dtype=np.uint64))[0])

        self.payer = ACCOUNT_PAYER[plan.account].astype(np.int64)
        self.edp = np.array(EDP_RATE)[self.payer]
        self.profile = SKU_PROFILE[plan.sku]
        self.nf = _SKU_NF[plan.sku]
        self.service = _SKU_SERVICE[plan.sku]
        self.combo = plan.account.astype(np.int64) * len(SERVICE_CODES) + self.service
        self.covered = plan.purchase == SAVINGS_PLAN
        self.reserved = plan.purchase == RESERVED
        self.tag_sets = MapSets()
        self.product_sets = MapSets()
        self.cost_category_sets = MapSets()
        self._stream_sets()
        self._stream_codes()
        self.resource_ids = pa.array(plan.resource_id, type=pa.string())
        self.line_ids = pa.array(plan.line_item_id + plan.negation_id, type=pa.string())
        # Fees and charges carry their account's cost categories (no tags): registered up front,
        # since the legacy writer fixes its columns when the month's first batch arrives.
        self.charge_cost_category = [
            self.cost_category_sets.add(self._cost_category(account * 2 * (len(org.TEAMS) + 1) + PLATFORM))
            for account in range(len(org.ACCOUNTS))
        ]
        self.fee_product = {
            code: self.product_sets.add({"product_name": cat.SERVICE_NAMES.get(code, code)})
            for code in SERVICE_CODES
        }

        combos = len(org.ACCOUNTS) * len(SERVICE_CODES)
        self.combo_unblended = np.zeros(combos)
        self.combo_net = np.zeros(combos)
        self.combo_discount = np.zeros(combos)
        self.sp_used = np.zeros((len(org.PAYERS), hours))
        self.anomaly_extra = np.zeros(len(plan.anomalies))
        self.team_day_amortized = np.zeros((len(org.TEAMS), plan.days))
        self.team_service_amortized = np.zeros((len(org.TEAMS), len(SERVICE_CODES)))

    # ---- per-stream encodings -------------------------------------------------------------

    def _stream_sets(self) -> None:
        plan = self.plan
        late_tags = plan.position >= 1
        team = np.where(plan.tagged, plan.team, len(org.TEAMS)).astype(np.int64)
        fields = (team, plan.team_key, plan.has_product, plan.environment + 1, plan.has_cost_center,
                  plan.has_application & late_tags, plan.created_by + 1, plan.cluster + 1)
        radix = (len(org.TEAMS) + 1, 3, 2, 4, 2, 2, 4, 3)
        key = np.zeros(plan.streams, dtype=np.int64)
        for values, base in zip(fields, radix):
            key = key * base + values.astype(np.int64)
        self.stream_tags = _set_ids(key, lambda k: _decode_tags(k, radix), self.tag_sets)

        drop_ecu = plan.position >= 1
        sr = plan.sku.astype(np.int64) * len(cat.REGIONS) + plan.region

        def product(k: int) -> dict[str, str]:
            s = cat.SKUS[k // len(cat.REGIONS)]
            name = cat.SERVICE_NAMES[s.service_code]
            attrs = {a: v for a, v in s.attrs if not (drop_ecu and a == "ecu")}
            return {"product_name": name, "region": cat.REGIONS[k % len(cat.REGIONS)].code, **attrs}

        self.stream_product = _set_ids(sr, product, self.product_sets)
        self.stream_cost_category = _set_ids(
            (plan.account.astype(np.int64) * 2 + plan.tagged) * (len(org.TEAMS) + 1) + plan.team,
            self._cost_category, self.cost_category_sets,
        )

    def _cost_category(self, key: int) -> dict[str, str]:
        """AWS Cost Categories of a row: the business unit of the account owner, else of the tag."""
        team = key % (len(org.TEAMS) + 1)
        tagged = (key // (len(org.TEAMS) + 1)) % 2
        account = org.ACCOUNTS[key // (2 * (len(org.TEAMS) + 1))]
        owner = account.owner if account.owner else (org.TEAMS[team].name if tagged else None)
        return {"business_unit": next((t.product for t in org.TEAMS if t.name == owner), "unallocated")}

    def _stream_codes(self) -> None:
        plan = self.plan
        nr = len(cat.REGIONS)
        sku = plan.sku.astype(np.int64)
        sr = sku * nr + plan.region
        srp = sr * 4 + plan.purchase
        vocabs: dict[str, tuple[np.ndarray, Vocab]] = {}

        def col(name: str, keys: np.ndarray, label: Callable[[int], str]) -> None:
            vocab = Vocab()
            vocabs[name] = (codes_by_key(keys, label, vocab), vocab)

        col("bill_invoice_id", self.payer, lambda k: str(1_000_000_000 + _invoice(plan.period, k)))
        col("bill_invoicing_entity", self.payer, lambda k: _ENTITIES[k])
        col("line_item_legal_entity", self.payer, lambda k: _ENTITIES[k])
        col("bill_payer_account_id", self.payer, lambda k: org.PAYERS[k])
        col("bill_payer_account_name", self.payer, lambda k: next(a.name for a in org.ACCOUNTS if a.account_id == org.PAYERS[k]))
        acct = plan.account.astype(np.int64)
        col("line_item_usage_account_id", acct, lambda k: org.ACCOUNTS[k].account_id)
        col("line_item_usage_account_name", acct, lambda k: org.ACCOUNTS[k].name)
        col("line_item_availability_zone", plan.region.astype(np.int64) * 4 + plan.az + 1,
            lambda k: "" if k % 4 == 0 else cat.REGIONS[k // 4].code + "abc"[k % 4 - 1])
        col("line_item_line_item_type", plan.purchase.astype(np.int64), lambda k: _TYPE_BY_PURCHASE[k])
        col("line_item_line_item_description", srp, self._description)
        col("line_item_operation", sku, lambda k: cat.SKUS[k].operation)
        col("product_operation", sku, lambda k: cat.SKUS[k].operation)
        col("line_item_product_code", sku, lambda k: cat.SKUS[k].service_code)
        col("product_servicecode", sku, lambda k: cat.SKUS[k].service_code)
        col("line_item_normalization_factor", sku, lambda k: float_text(cat.SKUS[k].normalization_factor) if cat.SKUS[k].normalization_factor else "")
        col("line_item_usage_type", srp, lambda k: cat.usage_type(cat.SKUS[k // (4 * nr)], (k // 4) % nr, k % 4 == SPOT))
        col("product_usagetype", srp, lambda k: cat.usage_type(cat.SKUS[k // (4 * nr)], (k // 4) % nr, k % 4 == SPOT))
        col("pricing_unit", sku, lambda k: cat.SKUS[k].unit)
        col("product_pricing_unit", sku, lambda k: cat.SKUS[k].unit)
        col("product_product_family", sku, lambda k: cat.SKUS[k].product_family)
        col("product_instance_type", sku, lambda k: cat.SKUS[k].instance_type)
        col("product_instance_family", sku, lambda k: cat.SKUS[k].instance_family)
        col("product_sku", sr, lambda k: cat.sku_code(cat.SKUS[k // nr], k % nr))
        col("pricing_rate_id", sr, lambda k: cat.rate_id(cat.SKUS[k // nr], k % nr))
        col("pricing_rate_code", srp, self._rate_code)
        col("product_region_code", plan.region.astype(np.int64), lambda k: cat.REGIONS[k].code)
        col("product_location", plan.region.astype(np.int64), lambda k: cat.REGIONS[k].location)
        col("product_from_location", sr, lambda k: self._transfer(k)[0])
        col("product_from_location_type", sr, lambda k: self._transfer(k)[1])
        col("product_from_region_code", sr, lambda k: self._transfer(k)[2])
        col("product_to_location", sr, lambda k: self._transfer(k)[3])
        col("product_to_location_type", sr, lambda k: self._transfer(k)[4])
        col("product_to_region_code", sr, lambda k: self._transfer(k)[5])
        purchase = plan.purchase.astype(np.int64)
        col("pricing_term", purchase, lambda k: {SPOT: "", RESERVED: "Reserved"}.get(k, "OnDemand"))
        col("pricing_lease_contract_length", purchase, lambda k: cat.SP_TERM if k == RESERVED else "")
        col("pricing_offering_class", purchase, lambda k: "standard" if k == RESERVED else "")
        col("pricing_purchase_option", purchase, lambda k: cat.RI_PAYMENT if k == RESERVED else "")
        col("pricing_public_on_demand_rate", *_float_keys(plan.od_rate))
        col("line_item_unblended_rate", *_float_keys(plan.unblended_rate))
        col("line_item_net_unblended_rate", *_float_keys(np.round(plan.unblended_rate * (1 - self.edp), 10)))
        commit = plan.commitment.astype(np.int64) + 1
        sp_key = np.where(self.covered, commit, 0)
        ri_key = np.where(self.reserved, commit, 0)
        year = int(plan.period[:4])
        col("savings_plan_savings_plan_a_r_n", sp_key, lambda k: plan.sp_arn[k - 1] if k else "")
        col("savings_plan_offering_type", sp_key, lambda k: "ComputeSavingsPlans" if k else "")
        col("savings_plan_payment_option", sp_key, lambda k: cat.SP_PAYMENT if k else "")
        col("savings_plan_purchase_term", sp_key, lambda k: cat.SP_TERM if k else "")
        col("savings_plan_start_time", sp_key, lambda k: f"{year}-01-01T00:00:00.000Z" if k else "")
        col("savings_plan_end_time", sp_key, lambda k: f"{year + 1}-01-01T00:00:00.000Z" if k else "")
        col("reservation_reservation_a_r_n", ri_key, lambda k: plan.ri_groups[k - 1].arn if k else "")
        col("reservation_subscription_id", ri_key, lambda k: plan.ri_groups[k - 1].subscription_id if k else "")
        col("reservation_start_time", ri_key, lambda k: f"{year}-01-01T00:00:00.000Z" if k else "")
        col("reservation_end_time", ri_key, lambda k: f"{year + 1}-01-01T00:00:00.000Z" if k else "")
        # RI streams use one instance-hour per hour, so the recurring fee per row is the rate.
        col("reservation_recurring_fee_for_usage", *_float_keys(np.where(self.reserved, plan.ri_recurring_rate, np.nan)))
        # SavingsPlanNegation rows: codes for stream i + streams (see _usage_columns).
        negation_key = (plan.account.astype(np.int64) * len(cat.SKUS) + sku) * nr + plan.region
        negation_codes = {
            "line_item_line_item_description": (negation_key, self._negation_description),
            "line_item_unblended_rate": _float_keys(-plan.od_rate),
            "line_item_net_unblended_rate": _float_keys(-np.round(plan.od_rate * (1 - self.edp), 10)),
            "line_item_line_item_type": (np.zeros(plan.streams, np.int64), lambda k: "SavingsPlanNegation"),
        }
        for name, (keys, label) in negation_codes.items():
            codes, vocab = vocabs[name]
            vocabs[name] = (np.concatenate([codes, codes_by_key(keys, label, vocab)]), vocab)
        self.codes = {name: (codes, vocab.array()) for name, (codes, vocab) in vocabs.items()}

    def _description(self, k: int) -> str:
        nr = len(cat.REGIONS)
        s = cat.SKUS[k // (4 * nr)]
        region, purchase = (k // 4) % nr, k % 4
        os_name = "Windows" if s.windows else "Linux/UNIX"
        if purchase == SPOT:
            return f"{os_name} (Amazon VPC), {s.instance_type} Spot Instance-hour"
        if purchase == RESERVED:
            return f"{os_name} (Amazon VPC), {s.instance_type} reserved instance applied"
        if purchase == SAVINGS_PLAN:
            return f"Compute Savings Plan covered usage: {cat.usage_type(s, region)}"
        return s.description.format(rate=float_text(cat.region_rate(s, region)))

    def _rate_code(self, k: int) -> str:
        nr = len(cat.REGIONS)
        s, region, purchase = cat.SKUS[k // (4 * nr)], (k // 4) % nr, k % 4
        term = _RI_TERM if purchase == RESERVED else _OD_TERM
        return f"{cat.sku_code(s, region)}.{term}.{_RATE}"

    def _transfer(self, k: int) -> tuple[str, str, str, str, str, str]:
        nr = len(cat.REGIONS)
        s, region = cat.SKUS[k // nr], cat.REGIONS[k % nr]
        if s.transfer == "intra":
            return region.location, "AWS Region", region.code, region.location, "AWS Region", region.code
        if s.transfer == "out":
            return region.location, "AWS Region", region.code, "External", "Other", ""
        return "", "", "", "", "", ""

    def _negation_description(self, k: int) -> str:
        nr = len(cat.REGIONS)
        account = org.ACCOUNTS[k // (nr * len(cat.SKUS))].account_id
        s, region = cat.SKUS[(k // nr) % len(cat.SKUS)], k % nr
        return f"SavingsPlanNegation used by AccountId : {account} and UsageSku : {cat.sku_code(s, region)}"

    # ---- batches --------------------------------------------------------------------------

    def hour_groups(self, target_rows: int) -> list[tuple[int, int]]:
        """Consecutive hour ranges of about ``target_rows`` rows each (never splitting an hour)."""
        plan = self.plan
        per_hour = np.zeros(plan.hours + 1, dtype=np.int64)
        weight = np.where(self.covered, 2, 1)
        np.add.at(per_hour, plan.start, weight)
        np.add.at(per_hour, plan.end, -weight)
        per_hour = np.cumsum(per_hour)[:-1]
        groups, h0, acc = [], 0, 0
        for h, count in enumerate(per_hour.tolist()):
            acc += count
            if acc >= target_rows:
                groups.append((h0, h + 1))
                h0, acc = h + 1, 0
        if h0 < plan.hours:
            groups.append((h0, plan.hours))
        return groups

    def batches(self, target_rows: int) -> Iterator[RowBatch]:
        """Every row of the month: usage batches, then the fees and monthly charges."""
        for h0, h1 in self.hour_groups(target_rows):
            batch = self.usage_batch(h0, h1)
            if batch.rows:
                yield batch
        yield self.charges_batch()

    def usage_batch(self, h0: int, h1: int) -> RowBatch:
        """Usage rows of the hours [h0, h1), hour by hour, then the negations of covered rows."""
        plan = self.plan
        cand = np.nonzero((plan.start < h1) & (plan.end > h0))[0]
        s = np.maximum(plan.start[cand], h0)
        counts = (np.minimum(plan.end[cand], h1) - s).astype(np.int64)
        st = np.repeat(cand, counts)
        offsets = np.repeat(np.cumsum(counts) - counts, counts)
        hr = np.repeat(s, counts) + (np.arange(len(st)) - offsets)
        order = np.argsort(hr, kind="stable")  # hour-major; streams stay in emission order
        st, hr = st[order], hr[order].astype(np.int64)

        usage = plan.mean_usage[st].copy()
        prof = self.profile[st]
        storage = prof == cat.STORAGE
        usage[storage] = np.round(usage[storage] / plan.hours * (1 + STORAGE_GROWTH * hr[storage] / plan.hours), 8)
        variable = prof == cat.VARIABLE
        # Noise hashed from (seed, month, stream, hour): independent of batching and of which
        # other streams the month holds.
        z = hashed_normal(self.noise_seed, plan.stream_key[st[variable]], hr[variable])
        noise = np.exp(NOISE_SIGMA * z - NOISE_SIGMA**2 / 2)
        usage[variable] = np.round(usage[variable] * self.shape[hr[variable]] * noise, 6)

        covered = self.covered[st]
        negation = np.concatenate([np.zeros(len(st), bool), np.ones(int(covered.sum()), bool)])
        st = np.concatenate([st, st[covered]])
        hr = np.concatenate([hr, hr[covered]])
        usage = np.concatenate([usage, usage[covered]])
        batch, amounts = self._usage_columns(st, hr, usage, negation)
        self._accumulate(st, hr, negation, amounts)
        return batch

    def _usage_columns(self, st: np.ndarray, hr: np.ndarray, usage: np.ndarray, negation: np.ndarray) -> tuple[RowBatch, dict[str, np.ndarray]]:
        plan = self.plan
        n = len(st)
        od = plan.od_rate[st]
        public = np.round(usage * od, 10)
        unblended = np.where(negation, -public, np.round(usage * plan.unblended_rate[st], 10))
        edp = self.edp[st]
        net = np.round(unblended * (1 - edp), 10)
        discount = np.round(net - unblended, 10)
        covered = self.covered[st] & ~negation
        reserved = self.reserved[st]
        effective = np.round(usage * plan.effective_rate[st], 10)
        sp_any = self.covered[st]
        sp_effective = np.where(covered, effective, 0.0)
        ri_upfront = np.round(usage * plan.ri_upfront_rate[st], 10)
        ri_recurring = np.round(usage * plan.ri_recurring_rate[st], 10)

        cols: dict[str, pa.Array] = {}
        with_negation = st + plan.streams * negation  # index into codes that have negation variants
        for name, (codes, vocab) in self.codes.items():
            cols[name] = dict_column(codes[with_negation if len(codes) > plan.streams else st], vocab)
        ids = pa.array(st, type=pa.int64())
        cols["identity_line_item_id"] = self.line_ids.take(pa.array(with_negation, type=pa.int64()))
        cols["line_item_resource_id"] = self.resource_ids.take(ids)
        cols["identity_time_interval"] = dict_column(hr.astype(np.int32), self.intervals)
        start = pa.array(self.hour_ms[hr], type=pa.int64()).cast(TIMESTAMP)
        end = pa.array(self.hour_ms[hr + 1], type=pa.int64()).cast(TIMESTAMP)
        cols["line_item_usage_start_date"] = start
        cols["line_item_usage_end_date"] = end
        zeros = np.zeros(n, np.int32)
        for name, value in _CONSTANTS.items():
            cols[name] = dict_column(zeros, pa.array([value]))
        cols["bill_billing_period_start_date"] = pa.array(np.full(n, self.start_ms), type=pa.int64()).cast(TIMESTAMP)
        cols["bill_billing_period_end_date"] = pa.array(np.full(n, self.end_ms), type=pa.int64()).cast(TIMESTAMP)

        nf = self.nf[st]
        cols.update({
            "line_item_usage_amount": pa.array(usage),
            "line_item_unblended_cost": pa.array(unblended),
            "line_item_blended_cost": pa.array(unblended),
            "line_item_blended_rate": pa.array(np.where(negation, -od, plan.unblended_rate[st])),
            "line_item_net_unblended_cost": pa.array(net),
            "discount_total_discount": pa.array(discount),
            "discount_bundled_discount": pa.array(np.zeros(n)),
            "pricing_public_on_demand_cost": pa.array(np.where(negation, 0.0, public)),
            "line_item_normalized_usage_amount": pa.array(usage * nf, mask=nf == 0),
            "savings_plan_savings_plan_effective_cost": pa.array(sp_effective, mask=~sp_any),
            "savings_plan_net_savings_plan_effective_cost": pa.array(np.round(sp_effective * (1 - edp), 10), mask=~sp_any),
            "savings_plan_savings_plan_rate": pa.array(np.where(covered, plan.effective_rate[st], 0.0), mask=~sp_any),
            "savings_plan_amortized_upfront_commitment_for_billing_period": pa.array(np.zeros(n), mask=~sp_any),
            "savings_plan_net_amortized_upfront_commitment_for_billing_period": pa.array(np.zeros(n), mask=~sp_any),
            "reservation_effective_cost": pa.array(np.where(reserved, effective, 0.0), mask=~reserved),
            "reservation_net_effective_cost": pa.array(np.round(effective * (1 - edp), 10), mask=~reserved),
            "reservation_amortized_upfront_cost_for_usage": pa.array(ri_upfront, mask=~reserved),
            "reservation_net_amortized_upfront_cost_for_usage": pa.array(np.round(ri_upfront * (1 - edp), 10), mask=~reserved),
            "reservation_net_recurring_fee_for_usage": pa.array(np.round(ri_recurring * (1 - edp), 10), mask=~reserved),
        })
        empty_strings = dict_column(np.zeros(n, np.int32), pa.array([""]))
        empty_numbers = pa.nulls(n, pa.float64())
        for name in SCALAR_COLUMNS:
            if name not in cols:
                cols[name] = empty_strings if name in _STRING_COLUMNS else empty_numbers
        amortized = np.where(negation, 0.0, np.where(covered, sp_effective, np.where(reserved, effective, unblended)))
        batch = RowBatch(
            columns=cols, tags=self.stream_tags[st], product=self.stream_product[st],
            cost_category=self.stream_cost_category[st], discount=discount,
        )
        return batch, {"unblended": unblended, "net": net, "discount": discount, "amortized": amortized, "sp_effective": sp_effective}

    def _accumulate(self, st: np.ndarray, hr: np.ndarray, negation: np.ndarray, amounts: dict[str, np.ndarray]) -> None:
        plan = self.plan
        combos = len(self.combo_unblended)
        combo = self.combo[st]
        self.combo_unblended += np.bincount(combo, weights=amounts["unblended"], minlength=combos)
        self.combo_net += np.bincount(combo, weights=amounts["net"], minlength=combos)
        self.combo_discount += np.bincount(combo, weights=amounts["discount"], minlength=combos)
        covered = self.covered[st] & ~negation
        if covered.any():
            idx = self.payer[st[covered]] * plan.hours + hr[covered]
            self.sp_used += np.bincount(idx, weights=amounts["sp_effective"][covered], minlength=self.sp_used.size).reshape(self.sp_used.shape)
        anomaly = plan.anomaly[st]
        hit = anomaly >= 0
        if hit.any():
            self.anomaly_extra += np.bincount(anomaly[hit], weights=amounts["unblended"][hit], minlength=len(self.anomaly_extra))
        regular = ~hit
        team = plan.team[st[regular]].astype(np.int64)
        day = hr[regular] // 24
        self.team_day_amortized += np.bincount(team * plan.days + day, weights=amounts["amortized"][regular],
                                               minlength=self.team_day_amortized.size).reshape(self.team_day_amortized.shape)
        self.team_service_amortized += np.bincount(team * len(SERVICE_CODES) + self.service[st[regular]],
                                                   weights=amounts["amortized"][regular],
                                                   minlength=self.team_service_amortized.size).reshape(self.team_service_amortized.shape)

    # ---- fees and monthly charges ---------------------------------------------------------

    def charges_batch(self) -> RowBatch:
        """Savings Plan fees (hourly), then RIFee, support, tax, credits, refunds and EDP discounts."""
        records = self._sp_fee_records() + self._ri_fee_records()
        records += self._support_records()
        records += self._tax_records()
        records += self._adjustment_records()
        records += self._edp_records()
        return self._sparse_batch(records)

    def _charge(self, account: int, service: str, kind: str, unblended: float, net: float, **extra: object) -> dict[str, object]:
        payer = int(ACCOUNT_PAYER[account])
        combo = account * len(SERVICE_CODES) + SERVICE_INDEX[service]
        self.combo_unblended[combo] += unblended
        self.combo_net[combo] += net
        discount = round(net - unblended, 10) if kind in ("SavingsPlanRecurringFee", "RIFee") else 0.0
        self.combo_discount[combo] += discount
        record: dict[str, object] = {
            "line_item_line_item_type": kind, "line_item_product_code": service, "product_servicecode": service,
            "line_item_usage_account_id": org.ACCOUNTS[account].account_id,
            "line_item_usage_account_name": org.ACCOUNTS[account].name,
            "bill_payer_account_id": org.PAYERS[payer],
            "bill_payer_account_name": next(a.name for a in org.ACCOUNTS if a.account_id == org.PAYERS[payer]),
            "bill_invoice_id": str(1_000_000_000 + _invoice(self.plan.period, payer)),
            "bill_invoicing_entity": _ENTITIES[payer], "line_item_legal_entity": _ENTITIES[payer],
            "line_item_unblended_cost": unblended, "line_item_blended_cost": unblended,
            "line_item_net_unblended_cost": net, "discount_total_discount": discount, "discount_bundled_discount": 0.0,
            "pricing_public_on_demand_cost": 0.0,
            "_start": self.start_ms, "_end": self.end_ms, "_interval": self.month_interval,
            "_tags": 0, "_product": self.fee_product[service],
            "_cost_category": self.charge_cost_category[account],
            "_discount": discount,
        }
        record.update(extra)
        return record

    def _sp_fee_records(self) -> list[dict[str, object]]:
        plan = self.plan
        year = int(plan.period[:4])
        out = []
        for h in range(plan.hours):
            for p in range(len(org.PAYERS)):
                commit = float(plan.sp_commitment[p])
                net = round(commit * (1 - EDP_RATE[p]), 10)
                used = round(float(self.sp_used[p, h]), 10)
                out.append(self._charge(
                    int(PAYER_ACCOUNT[p]), "ComputeSavingsPlans", "SavingsPlanRecurringFee", commit, net,
                    identity_line_item_id=_line_id(self.seed, plan.period, "sp", p),
                    line_item_usage_type="ComputeSP:1yrNoUpfront", line_item_usage_amount=1.0,
                    line_item_unblended_rate=float_text(commit), line_item_blended_rate=commit,
                    line_item_net_unblended_rate=float_text(net), pricing_unit="Hrs", pricing_term="Savings Plan",
                    line_item_line_item_description="1 year No Upfront Compute Savings Plan",
                    line_item_resource_id=plan.sp_arn[p],
                    savings_plan_savings_plan_a_r_n=plan.sp_arn[p], savings_plan_offering_type="ComputeSavingsPlans",
                    savings_plan_payment_option=cat.SP_PAYMENT, savings_plan_purchase_term=cat.SP_TERM,
                    savings_plan_start_time=f"{year}-01-01T00:00:00.000Z", savings_plan_end_time=f"{year + 1}-01-01T00:00:00.000Z",
                    savings_plan_total_commitment_to_date=commit, savings_plan_used_commitment=used,
                    savings_plan_recurring_commitment_for_billing_period=float_text(commit),
                    savings_plan_net_recurring_commitment_for_billing_period=net,
                    savings_plan_amortized_upfront_commitment_for_billing_period=0.0,
                    savings_plan_net_amortized_upfront_commitment_for_billing_period=0.0,
                    _start=int(self.hour_ms[h]), _end=int(self.hour_ms[h + 1]), _interval=self.intervals[h].as_py(),
                ))
        return out

    def _ri_fee_records(self) -> list[dict[str, object]]:
        plan = self.plan
        year = int(plan.period[:4])
        out = []
        for g, group in enumerate(plan.ri_groups):
            sku = cat.SKUS[group.sku]
            mask = self.reserved & (plan.commitment == g)
            upfront = float(plan.ri_upfront_rate[mask][0])
            recurring = float(plan.ri_recurring_rate[mask][0])
            reserved_hours = group.count * plan.hours
            unused_hours = reserved_hours - group.used_hours
            edp = EDP_RATE[group.payer]
            fee = round(reserved_hours * recurring, 10)
            amortized_upfront = round(reserved_hours * upfront, 10)
            unused_upfront = round(unused_hours * upfront, 10)
            unused_recurring = round(unused_hours * recurring, 10)
            upfront_value = round(upfront * group.count * 8760, 2)
            out.append(self._charge(
                int(PAYER_ACCOUNT[group.payer]), sku.service_code, "RIFee", fee, round(fee * (1 - edp), 10),
                identity_line_item_id=_line_id(self.seed, plan.period, "ri", g),
                line_item_usage_type=cat.usage_type(sku, group.region).replace(sku.usage_type.split(":")[0], "HeavyUsage"),
                line_item_operation=sku.operation, product_operation=sku.operation,
                line_item_usage_amount=float(reserved_hours), line_item_unblended_rate=float_text(recurring),
                line_item_blended_rate=recurring, line_item_net_unblended_rate=float_text(round(recurring * (1 - edp), 10)),
                line_item_line_item_description=f"USD {float_text(recurring)} hourly fee per {sku.instance_type} reserved instance",
                pricing_unit="Hrs", pricing_term="Reserved", pricing_lease_contract_length=cat.SP_TERM,
                pricing_offering_class="standard", pricing_purchase_option=cat.RI_PAYMENT,
                product_instance_type=sku.instance_type, product_region_code=cat.REGIONS[group.region].code,
                reservation_reservation_a_r_n=group.arn, reservation_subscription_id=group.subscription_id,
                reservation_start_time=f"{year}-01-01T00:00:00.000Z", reservation_end_time=f"{year + 1}-01-01T00:00:00.000Z",
                reservation_number_of_reservations=str(group.count), reservation_units_per_reservation=str(plan.hours),
                reservation_total_reserved_units=str(reserved_hours),
                reservation_amortized_upfront_fee_for_billing_period=amortized_upfront,
                reservation_net_amortized_upfront_fee_for_billing_period=round(amortized_upfront * (1 - edp), 10),
                reservation_unused_amortized_upfront_fee_for_billing_period=unused_upfront,
                reservation_net_unused_amortized_upfront_fee_for_billing_period=round(unused_upfront * (1 - edp), 10),
                reservation_unused_recurring_fee=unused_recurring,
                reservation_net_unused_recurring_fee=round(unused_recurring * (1 - edp), 10),
                reservation_unused_quantity=float(unused_hours),
                reservation_upfront_value=float_text(upfront_value),
                reservation_net_upfront_value=round(upfront_value * (1 - edp), 2),
                _product=self.stream_product[np.nonzero(mask)[0][0]],
            ))
        return out

    def _support_records(self) -> list[dict[str, object]]:
        out = []
        payer_of_combo = ACCOUNT_PAYER[np.arange(len(self.combo_net)) // len(SERVICE_CODES)]
        for p in range(len(org.PAYERS)):
            base = float(self.combo_net[payer_of_combo == p].sum())
            fee = round(max(SUPPORT_MINIMUM, tiered_support(base)), 2)
            out.append(self._charge(
                int(PAYER_ACCOUNT[p]), "AWSSupportBusiness", "Fee", fee, fee,
                identity_line_item_id=_line_id(self.seed, self.plan.period, "support", p),
                line_item_usage_type="Dollar", line_item_usage_amount=1.0,
                line_item_unblended_rate=float_text(fee), line_item_blended_rate=fee,
                line_item_net_unblended_rate=float_text(fee),
                line_item_line_item_description="AWS Support (Business)", pricing_unit="Dollar",
            ))
        return out

    def _tax_records(self) -> list[dict[str, object]]:
        out = []
        for account, service in self.plan.positive_combos:
            combo = account * len(SERVICE_CODES) + service
            tax_type, rate = TAX[int(ACCOUNT_PAYER[account])]
            tax = round(rate * float(self.combo_net[combo]), 10)
            code = SERVICE_CODES[service]
            out.append(self._charge(
                account, code, "Tax", tax, tax,
                identity_line_item_id=_line_id(self.seed, self.plan.period, "tax", combo),
                line_item_usage_amount=1.0, line_item_tax_type=tax_type,
                line_item_line_item_description=f"Tax for product code {code}",
            ))
        return out

    def _adjustment_records(self) -> list[dict[str, object]]:
        out = []
        for kind, combos, share, text in (
            ("Credit", self.plan.credit_combos, CREDIT_SHARE, "AWS Promotional Credit: migration acceleration program"),
            ("Refund", self.plan.refund_combos, REFUND_SHARE, "Refund for service level agreement breach"),
        ):
            for j, (account, service) in enumerate(combos):
                combo = account * len(SERVICE_CODES) + service
                amount = -round(share * float(self.combo_net[combo]), 10)
                out.append(self._charge(
                    account, SERVICE_CODES[service], kind, amount, amount,
                    identity_line_item_id=_line_id(self.seed, self.plan.period, kind, j),
                    line_item_usage_amount=0.0, line_item_line_item_description=text,
                ))
        return out

    def _edp_records(self) -> list[dict[str, object]]:
        out = []
        support = SERVICE_INDEX["AWSSupportBusiness"]
        for account, service in self.plan.positive_combos:
            if service == support:
                continue
            combo = account * len(SERVICE_CODES) + service
            amount = round(float(self.combo_discount[combo]), 10)
            out.append(self._charge(
                account, SERVICE_CODES[service], "EdpDiscount", amount, 0.0,
                identity_line_item_id=_line_id(self.seed, self.plan.period, "edp", combo),
                line_item_usage_amount=0.0,
                line_item_line_item_description="Enterprise Discount Program discount",
            ))
        return out

    def _sparse_batch(self, records: list[dict[str, object]]) -> RowBatch:
        n = len(records)
        cols: dict[str, pa.Array] = {}
        for name in SCALAR_COLUMNS:
            if name in _STRING_COLUMNS:
                default = _CONSTANTS.get(name, "")
                cols[name] = pa.array([r.get(name, default) for r in records], type=pa.string())
            elif name in _DOUBLE_COLUMNS:
                cols[name] = pa.array([r.get(name) for r in records], type=pa.float64())
        starts = pa.array([r["_start"] for r in records], type=pa.int64()).cast(TIMESTAMP)
        ends = pa.array([r["_end"] for r in records], type=pa.int64()).cast(TIMESTAMP)
        cols["line_item_usage_start_date"] = starts
        cols["line_item_usage_end_date"] = ends
        cols["bill_billing_period_start_date"] = pa.array(np.full(n, self.start_ms), type=pa.int64()).cast(TIMESTAMP)
        cols["bill_billing_period_end_date"] = pa.array(np.full(n, self.end_ms), type=pa.int64()).cast(TIMESTAMP)
        cols["identity_time_interval"] = pa.array([r["_interval"] for r in records], type=pa.string())
        return RowBatch(
            columns=cols,
            tags=np.array([r["_tags"] for r in records], dtype=np.int32),
            product=np.array([r["_product"] for r in records], dtype=np.int32),
            cost_category=np.array([r["_cost_category"] for r in records], dtype=np.int32),
            discount=np.array([r["_discount"] for r in records], dtype=np.float64),
        )


_CONSTANTS: dict[str, str] = {
    "bill_bill_type": "Anniversary", "bill_billing_entity": "AWS", "line_item_currency_code": org.CURRENCY,
    "pricing_currency": org.CURRENCY, "product_location_type": "AWS Region",
}


def _float_keys(values: np.ndarray) -> tuple[np.ndarray, Callable[[int], str]]:
    """Keys and a label function that print each distinct float once (NaN prints as '')."""
    uniq, inverse = np.unique(values, return_inverse=True)
    labels = ["" if np.isnan(v) else float_text(float(v)) for v in uniq]
    return inverse.astype(np.int64), lambda k: labels[k]


def _set_ids(keys: np.ndarray, build, registry: MapSets) -> np.ndarray:
    uniq, inverse = np.unique(keys, return_inverse=True)
    ids = np.array([registry.add(build(int(k))) for k in uniq], dtype=np.int32)
    return ids[inverse]


def _decode_tags(key: int, radix: tuple[int, ...]) -> dict[str, str]:
    values = []
    for base in reversed(radix):
        values.append(key % base)
        key //= base
    team, team_key, has_product, env, has_cc, has_app, created_by, cluster = reversed(values)
    tags: dict[str, str] = {}
    if created_by:
        tags[org.CREATED_BY_TAG_KEY] = CREATED_BY[created_by - 1]
    if team == len(org.TEAMS):  # untagged: only AWS-generated tags survive
        return tags
    t = org.TEAMS[team]
    tags[org.TEAM_TAG_KEYS[team_key]] = t.name
    if has_product:
        tags[org.PRODUCT_TAG_KEY] = t.product
    if env:
        tags[org.ENVIRONMENT_TAG_KEY] = org.ENVIRONMENTS[env - 1]
    if has_cc:
        tags[org.COST_CENTER_TAG_KEY] = t.cost_center
    if has_app:
        tags[org.APPLICATION_TAG_KEY] = f"{t.product}-{t.name}"
    if cluster:
        tags[org.CLUSTER_TAG_KEY] = org.SHARED_CLUSTER_NAME if cluster == 1 else f"{t.name}-eks"
    return tags


def _usage_shape(start: datetime, hours: int) -> np.ndarray:
    """Hourly multiplier of variable usage: a daily cycle and a weekday pattern, mean 1."""
    h = np.arange(hours)
    hour_of_day = h % 24
    weekday = (start.weekday() + h // 24) % 7
    shape = (1 + 0.35 * np.sin(2 * np.pi * (hour_of_day - 9) / 24)) * _WEEKDAY[weekday]
    return shape / shape.mean()


def _invoice(period: str, payer: int) -> int:
    return (_month_code(period) * 7919 + payer * 104_729) % 899_999_999


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer: a counter-based hash with well-spread bits (uint64 wraps)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def hashed_normal(seed: int, stream: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Standard normal draws keyed by (seed, stream, hour), by Box-Muller on two hashed uniforms."""
    key = _splitmix(np.uint64(seed) ^ (stream.astype(np.uint64) * np.uint64(1 << 12) + hour.astype(np.uint64)))
    other = _splitmix(key)
    scale = 1.0 / (1 << 53)
    u1 = ((key >> np.uint64(11)).astype(np.float64) + 1.0) * scale
    u2 = (other >> np.uint64(11)).astype(np.float64) * scale
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def _month_code(period: str) -> int:
    year, month = (int(x) for x in period.split("-"))
    return year * 12 + month


def _line_id(seed: int, period: str, kind: str, index: int) -> str:
    digest = hashlib.sha256(f"{seed}|{period}|{kind}|{index}".encode()).digest()
    return base64.b32encode(digest).decode()[:52].lower()

