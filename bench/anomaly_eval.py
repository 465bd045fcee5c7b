"""Precision, recall and detection delay of `cost_anomalies` on labeled anomalies.

Three sources of labeled data (``--source``):

- ``synthetic`` (default): daily cost series per team x service x account (log-normal levels,
  weekday patterns, heavy-tailed noise, slow trends, month-start fees, a shared pool) and their
  line items, with anomalies injected and labeled in the shape of the generator's
  ``anomalies.json`` (docs/CONTRACTS.md): spikes, sustained steps, and runaways that start late
  on their first day. Deliberately harder than the generator: smaller anomalies, noisier series.
- ``generator``: ``transforms.generate`` bills (with and without its labeled anomalies) through
  the real pipeline (readers, allocation with config/allocation.yaml) into team_cost_daily.
- ``files``: ``--labels ROOT/anomalies.json --team-cost-daily X.parquet --line-item-costs Y.parquet``.

The synthetic and generator sources also run on the same data without injected anomalies: every
alarm there is a false alarm (or an unlabeled change in the data). The first month only feeds
the baseline (``--warm-up-months``). A detection matches a label when owner, service and account
agree and their date ranges overlap; precision = matching detections / detections, recall =
labels matched / labels, delay = first day seen - labeled start date. Figures, not assertions:

    .venv/bin/python -m bench.anomaly_eval [--source synthetic|generator] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from transforms import duck, periods, storage
from transforms.generate import org
from transforms.insights import build_cost_anomalies

SERVICES = (
    "AmazonEC2", "AmazonRDS", "AmazonS3", "AWSLambda", "AmazonDynamoDB", "AmazonCloudWatch",
    "AmazonElastiCache", "AWSDataTransfer", "AmazonSageMaker", "AmazonKinesis", "AmazonSQS",
)
# Services billed once a month on the 1st (a real source of false alarms for day-level detectors).
MONTHLY_FEE_SERVICES = ("AmazonRoute53", "AWSSupportBusiness")
SHARED_SERVICE, SHARED_ACCOUNT = "AmazonVPC", "210000000007"


@dataclass
class Dataset:
    team_cost_daily: pa.Table
    line_item_costs: pa.Table
    labels: list[dict]


def _series_specs(rng: np.random.Generator, n_series: int) -> list[dict]:
    teams = [(t.name, t.product) for t in org.TEAMS] + [("unallocated", None)]
    accounts = [a.account_id for a in org.ACCOUNTS]
    specs, seen = [], set()
    while len(specs) < n_series:
        team, product = teams[rng.integers(len(teams))]
        key = (team, str(rng.choice(SERVICES)), str(rng.choice(accounts)))
        if key in seen:
            continue
        seen.add(key)
        specs.append({
            "team": team, "product": product, "service_code": key[1], "usage_account_id": key[2],
            "level": float(np.exp(rng.normal(np.log(120), 1.3))),
            "cv": float(rng.uniform(0.02, 0.15)),
            # Dev and batch workloads: lower at weekends for about 40 % of the series.
            "weekend": float(rng.uniform(0.45, 0.9)) if rng.random() < 0.4 else 1.0,
            "trend": float(rng.uniform(-0.15, 0.2)),
            "resources": int(rng.integers(1, 7)),
        })
    for service in MONTHLY_FEE_SERVICES:
        specs.append({
            "team": "platform", "product": "internal", "service_code": service, "usage_account_id": "111111111111",
            "level": 3.0, "cv": 0.01, "weekend": 1.0, "trend": 0.0, "resources": 1, "monthly_fee": 900.0,
        })
    return specs


def make_dataset(seed: int, months: list[str], n_series: int, n_anomalies: int, inject: bool) -> Dataset:
    """Daily cost per team x service x account (plus a shared pool), line items, and labeled anomalies.

    The clean series do not depend on ``inject`` (same seed, same draws), so the run without
    injections measures false alarms on exactly the baseline the labeled run starts from.
    """
    rng = np.random.default_rng(seed)
    days = [d for m in months for d in periods.days(m)]
    n_days = len(days)
    specs = _series_specs(rng, n_series)
    t = np.arange(n_days)
    weekend = np.array([d.isoweekday() >= 6 for d in days])
    first_of_month = np.array([d.day == 1 for d in days])
    costs = []
    for s in specs:
        noise = 1 + s["cv"] * rng.standard_t(5, n_days) / np.sqrt(5 / 3)
        series = s["level"] * (1 + s["trend"] * t / n_days) * np.where(weekend, s["weekend"], 1.0) * noise
        series = series + first_of_month * s.get("monthly_fee", 0.0)
        costs.append(np.maximum(series, 0.0))
    costs = np.array(costs)
    shares = [rng.dirichlet(np.ones(s["resources"])) for s in specs]
    extra_by_resource: dict[tuple[int, str], np.ndarray] = {}

    labels: list[dict] = []
    # Anomalies start once four weeks of history exist and end within the data.
    candidates = [i for i, s in enumerate(specs) if "monthly_fee" not in s]
    for k in range(n_anomalies):
        i = int(rng.choice(candidates))
        s = specs[i]
        kind = ("spike", "step", "runaway")[k % 3]
        start = int(rng.integers(35, n_days - 16))
        length = {"spike": int(rng.integers(1, 3)), "step": int(rng.integers(5, 15)), "runaway": int(rng.integers(3, 10))}[kind]
        daily_extra = max(float(rng.uniform(0.3, 2.0)) * s["level"], float(rng.uniform(60, 300)))
        extra = np.zeros(n_days)
        extra[start:start + length] = daily_extra
        if kind == "runaway":
            # Starts late on its first day: only part of a day's extra cost shows on day one.
            extra[start] = daily_extra * float(rng.uniform(0.1, 0.5))
        new_resource = rng.random() < 0.4
        resource = f"anomaly-{k:03d}" if new_resource else f"{s['service_code']}-{i:04d}-{int(rng.integers(s['resources']))}"
        if inject:
            costs[i] += extra
            extra_by_resource[(i, resource)] = extra_by_resource.get((i, resource), np.zeros(n_days)) + extra
        start_day, end_day = days[start], days[start + length - 1]
        labels.append({
            "id": f"a{k:03d}-{kind}", "billing_period": periods.of(start_day), "team": s["team"],
            "service_code": s["service_code"], "usage_account_id": s["usage_account_id"],
            "start_date": start_day.isoformat(), "end_date": end_day.isoformat(),
            "extra_unblended_cost": round(float(extra.sum()), 2), "resource_ids": [resource],
        })

    # A shared pool (networking) split over the teams by fixed weights.
    pool = 400 * (1 + 0.05 * rng.standard_t(5, n_days) / np.sqrt(5 / 3))
    weights = np.array([t.weight for t in org.TEAMS])
    weights = weights / weights.sum()

    tcd = {k: [] for k in ("usage_date", "billing_period", "team", "product", "usage_account_id", "service_code", "direct_cost", "shared_cost")}
    items = {k: [] for k in ("usage_date", "team", "usage_account_id", "service_code", "resource_id", "cost")}

    def add_row(d: date, team: str, product: str | None, account: str, service: str, direct: float, shared: float) -> None:
        for key, value in zip(tcd, (d, periods.of(d), team, product, account, service, round(direct, 2), round(shared, 2))):
            tcd[key].append(value)

    def add_item(d: date, team: str, account: str, service: str, resource: str, cost: float) -> None:
        for key, value in zip(items, (d, team, account, service, resource, round(cost, 6))):
            items[key].append(value)

    for i, s in enumerate(specs):
        base = costs[i] - sum((e for (j, _), e in extra_by_resource.items() if j == i), np.zeros(n_days))
        for di, d in enumerate(days):
            add_row(d, s["team"], s["product"], s["usage_account_id"], s["service_code"], float(costs[i, di]), 0.0)
            for r, share in enumerate(shares[i]):
                add_item(d, s["team"], s["usage_account_id"], s["service_code"], f"{s['service_code']}-{i:04d}-{r}", float(base[di] * share))
        for (j, resource), extra in extra_by_resource.items():
            if j == i:
                for di in np.nonzero(extra)[0]:
                    add_item(days[di], s["team"], s["usage_account_id"], s["service_code"], resource, float(extra[di]))
    for di, d in enumerate(days):
        for team, w in zip(org.TEAMS, weights):
            add_row(d, team.name, team.product, SHARED_ACCOUNT, SHARED_SERVICE, 0.0, float(pool[di] * w))
        add_item(d, org.SHARED_TEAM, SHARED_ACCOUNT, SHARED_SERVICE, "vpc-shared-nat", float(pool[di]))
    return Dataset(pa.table(tcd), pa.table(items), labels)


def load(con: duckdb.DuckDBPyConnection, data: Dataset) -> None:
    """Create the two input tables with the contract's types (money as DECIMAL)."""
    con.register("tcd_arrow", data.team_cost_daily)
    con.register("items_arrow", data.line_item_costs)
    con.execute(
        "CREATE OR REPLACE TABLE team_cost_daily AS SELECT usage_date::DATE AS usage_date, billing_period, team, product, "
        "usage_account_id, service_code, direct_cost::DECIMAL(18,2) AS direct_cost, shared_cost::DECIMAL(18,2) AS shared_cost FROM tcd_arrow"
    )
    con.execute(
        "CREATE OR REPLACE TABLE line_item_costs AS SELECT usage_date::DATE AS usage_date, team, usage_account_id, "
        "service_code, resource_id, cost::DECIMAL(18,10) AS cost FROM items_arrow"
    )
    con.unregister("tcd_arrow")
    con.unregister("items_arrow")


def detect(con: duckdb.DuckDBPyConnection, months: list[str], **options) -> tuple[list[dict], float]:
    """Anomalies of every month (an anomaly spanning two months kept once, as last reported)."""
    found: dict[str, dict] = {}
    started = time.perf_counter()
    for month in months:
        rel = build_cost_anomalies(con, month, **options)
        for row in rel.fetchall():
            record = dict(zip(rel.columns, row))
            found[record["anomaly_id"]] = record
    return list(found.values()), time.perf_counter() - started


def _overlaps(det: dict, label: dict) -> bool:
    return (
        det["team"] == label["team"]
        and det["service_code"] == label["service_code"]
        and det["usage_account_id"] == label["usage_account_id"]
        and det["start_date"] <= date.fromisoformat(label["end_date"])
        and det["last_seen"] >= date.fromisoformat(label["start_date"])
    )


def score(detections: list[dict], labels: list[dict]) -> dict:
    """Precision, recall, delays and top-resource hits of ``detections`` against ``labels``."""
    matched = [d for d in detections if any(_overlaps(d, lab) for lab in labels)]
    delays, top_hits, missed = [], 0, []
    for lab in labels:
        hits = sorted((d for d in detections if _overlaps(d, lab)), key=lambda d: d["first_seen"])
        if not hits:
            missed.append(lab["id"])
            continue
        first = hits[0]
        delays.append((first["first_seen"] - date.fromisoformat(lab["start_date"])).days)
        top = first["top_resources"][0]["resource_id"] if first["top_resources"] else None
        top_hits += top in lab["resource_ids"]
    found = len(labels) - len(missed)
    return {
        "labels": len(labels),
        "detections": len(detections),
        "precision": len(matched) / len(detections) if detections else None,
        "recall": found / len(labels) if labels else None,
        "found_by_second_day": sum(1 for d in delays if d <= 1) / len(labels) if labels else None,
        "delay_days": {str(k): delays.count(k) for k in sorted(set(delays))},
        "mean_delay_days": statistics.fmean(delays) if delays else None,
        "top_resource_is_labeled": top_hits / found if found else None,
        "missed": missed,
        "unlabeled_detections": [_brief(d) for d in detections if d not in matched],
    }


def _brief(d: dict) -> str:
    return f"{d['anomaly_id']}: {d['days']} day(s), expected {d['expected_cost']}, actual {d['actual_cost']}"


def clean_report(con: duckdb.DuckDBPyConnection, evaluated: list[str], options: dict) -> dict:
    """Alarms on data without injected anomalies: every one is a false alarm (or an unlabeled change)."""
    detections, seconds = detect(con, evaluated, **options)
    series = con.execute(
        "SELECT count(DISTINCT (team, service_code, usage_account_id)) FROM team_cost_daily "
        "WHERE billing_period IN (SELECT unnest($p::VARCHAR[]))",
        {"p": evaluated},
    ).fetchall()[0][0]
    return {
        "series": series, "months": len(evaluated), "alarms": len(detections),
        "alarms_per_100_series_months": round(100 * len(detections) / (series * len(evaluated)), 2),
        "detail": sorted(_brief(d) for d in detections), "seconds": round(seconds, 2),
    }


def labeled_report(con: duckdb.DuckDBPyConnection, evaluated: list[str], labels: list[dict], options: dict) -> dict:
    """Score on the labels that start in the evaluated months (earlier ones fall in the warm-up)."""
    detections, seconds = detect(con, evaluated, **options)
    in_scope = [lab for lab in labels if lab["billing_period"] in evaluated]
    return score(detections, in_scope) | {"labels_in_warm_up": len(labels) - len(in_scope), "seconds": round(seconds, 2)}


def load_generated(con: duckdb.DuckDBPyConnection, root: str, months: list[str]) -> None:
    """team_cost_daily and line_item_costs from a generated export, through the real pipeline.

    Reads each delivery, allocates it with config/allocation.yaml (amortized cost basis) and maps
    cost_allocation onto team_cost_daily the way the lead does: owner-less cost is 'unallocated'.
    """
    from business_metrics.tables import build_metrics_daily
    from transforms.allocation.config import load_config
    from transforms.allocation.lineitems import allocate_line_items
    from transforms.allocation.split import build_cost_allocation
    from transforms.discover import discover
    from transforms.readers import read_delivery

    config = load_config(Path(__file__).resolve().parents[1] / "config" / "allocation.yaml")
    for table in ("cost_line_items", "cost_allocation", "line_item_costs", "team_cost_daily"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    for i, delivery in enumerate(sorted(discover(root), key=lambda d: d.billing_period)):
        staged = read_delivery(con, delivery)
        staged.create("cost_line_items") if i == 0 else staged.insert_into("cost_line_items")
    build_metrics_daily(
        con, storage.join(root, "business_metrics", "metrics_daily.csv"), known_teams=org.TEAM_NAMES,
        known_products=org.PRODUCTS, currency=org.CURRENCY, periods=months,
    )
    for i, month in enumerate(months):
        allocation = build_cost_allocation(con, config, billing_period=month, line_items="cost_line_items")
        allocation.create("cost_allocation") if i == 0 else allocation.insert_into("cost_allocation")
        items = allocate_line_items(con, config, line_items="cost_line_items", billing_period=month).project(
            # Shared line items keep no team: they are matched to the (shared) series by service and account.
            "usage_date, CASE WHEN pool IS NULL THEN coalesce(team, 'unallocated') END AS team, "
            "usage_account_id, service_code, resource_id, amortized_cost AS cost"
        )
        items.create("line_item_costs") if i == 0 else items.insert_into("line_item_costs")
    con.execute(
        "CREATE TABLE team_cost_daily AS SELECT usage_date, billing_period, coalesce(team, 'unallocated') AS team, product, "
        "usage_account_id, service_code, sum(direct_amortized_cost) AS direct_cost, sum(shared_amortized_cost) AS shared_cost "
        "FROM cost_allocation GROUP BY ALL"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=("synthetic", "generator", "files"), default="synthetic")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--months", default="2025-01:2025-04", help="months of data (synthetic, generator)")
    parser.add_argument("--warm-up-months", type=int, default=1, help="first months only feed the baseline")
    parser.add_argument("--series", type=int, default=200, help="synthetic: series")
    parser.add_argument("--anomalies", type=int, default=24, help="synthetic: injected anomalies")
    parser.add_argument("--rows-per-month", type=int, default=200_000, help="generator: line items per month")
    parser.add_argument("--out", default="bench/.cache/anomaly_eval", help="generator: where the exports go")
    parser.add_argument("--labels", help="files: ROOT/anomalies.json")
    parser.add_argument("--team-cost-daily", help="files: Parquet file(s) of team_cost_daily (glob allowed)")
    parser.add_argument("--line-item-costs", help="files: Parquet file(s) of line_item_costs (glob allowed)")
    parser.add_argument("--min-impact", type=float, default=50.0)
    parser.add_argument("--threshold", type=float, default=5.5)
    parser.add_argument("--min-relative", type=float, default=0.2)
    args = parser.parse_args(argv)

    options = {"min_impact": Decimal(str(args.min_impact)), "threshold": args.threshold, "min_relative": args.min_relative}
    con = duck.connect()
    report: dict = {"source": args.source, "options": {k: str(v) for k, v in options.items()}}
    if args.source == "files":
        labels = json.loads(Path(args.labels).read_text())["anomalies"]
        con.read_parquet(args.team_cost_daily).create_view("team_cost_daily")
        con.read_parquet(args.line_item_costs).create_view("line_item_costs")
        months = [r[0] for r in con.execute("SELECT DISTINCT billing_period FROM team_cost_daily ORDER BY 1").fetchall()]
        report["labeled"] = labeled_report(con, months[args.warm_up_months:], labels, options)
    elif args.source == "generator":
        from transforms.generate import generate

        months = periods.parse_range(args.months)
        evaluated = months[args.warm_up_months:]
        for injected in (False, True):
            root = str(Path(args.out) / ("labeled" if injected else "clean"))
            result = generate(root, months, args.rows_per_month, seed=args.seed, anomalies=injected)
            load_generated(con, root, months)
            if injected:
                labels = json.loads(Path(result.anomalies_path).read_text())["anomalies"]
                report["labeled"] = labeled_report(con, evaluated, labels, options)
            else:
                report["clean_baseline"] = clean_report(con, evaluated, options)
    else:
        months = periods.parse_range(args.months)
        evaluated = months[args.warm_up_months:]
        load(con, make_dataset(args.seed, months, args.series, args.anomalies, inject=False))
        report["clean_baseline"] = clean_report(con, evaluated, options)
        labeled = make_dataset(args.seed, months, args.series, args.anomalies, inject=True)
        load(con, labeled)
        report["labeled"] = labeled_report(con, evaluated, labeled.labels, options)
    print(json.dumps(report, indent=2, default=str))
    return report


if __name__ == "__main__":
    main()
