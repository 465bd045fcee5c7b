"""`business_metrics_daily` and `budgets`: the business side, loaded from the source's
`business_metrics/` folder (CSV or Parquet, see business_metrics/README.md) and gated by GX suites."""

from business_metrics.formats import BUDGETS, METRICS_DAILY
from business_metrics.load import load_budgets, load_metrics_daily
from business_metrics.tables import budgets_table, metrics_daily_table
from business_metrics.validate import validate_budgets, validate_metrics_daily
from orchestration.assets.curated import BuildContext, CuratedTable, GateSpec, curated_asset
from transforms import storage

CURRENCY = "USD"


def find_file(root: str, stem: str) -> str | None:
    fs = storage.filesystem(root)
    for ext in (".csv", ".parquet"):
        path = storage.join(root, stem + ext)
        if fs.exists(storage.strip_protocol(path)):
            return path
    return None


def _empty(ctx: BuildContext, fields):
    """A source without business metrics is legitimate (a CUR alone): an empty, typed table."""
    cols = ", ".join(f"NULL::{f.type} AS {f.name}" for f in fields)
    return ctx.con.sql(f"SELECT {cols}, NULL::BIGINT AS source_row WHERE false")


def _load(ctx: BuildContext, stem: str, loader, fields):
    root = ctx.settings.business_metrics_root
    path = find_file(root, stem)
    raw = loader(ctx.con, path) if path else _empty(ctx, fields)
    ctx.scratch.update(path=path or f"{root}/{stem}.csv (absent)", raw=raw, present=path is not None)
    return raw


def _teams(ctx: BuildContext) -> list[str]:
    return [t.name for t in ctx.allocation_config.teams]


def _products(ctx: BuildContext) -> list[str]:
    return sorted({t.product for t in ctx.allocation_config.teams})


def _report(result, path: str) -> tuple[bool, dict]:
    return result.success, {
        "file": path,
        "expectations": len(result.outcomes),
        "failures": [o.message() for o in result.failures()][:50],
    }


def _build_metrics(ctx: BuildContext):
    raw = _load(ctx, "metrics_daily", load_metrics_daily, METRICS_DAILY)
    return metrics_daily_table(ctx.con, raw, [ctx.billing_period], table="metrics_build")


def _present(ctx: BuildContext, staged: str) -> tuple[bool, dict]:
    return ctx.scratch["present"], {"file": ctx.scratch["path"]}


def _metrics_valid(ctx: BuildContext, staged: str) -> tuple[bool, dict]:
    if not ctx.scratch["present"]:
        return True, {"file": ctx.scratch["path"], "note": "no file: nothing to validate"}
    result = validate_metrics_daily(ctx.con, ctx.scratch["raw"], ctx.scratch["path"], _teams(ctx), _products(ctx),
                                    CURRENCY, [ctx.billing_period])
    return _report(result, ctx.scratch["path"])


def _build_budgets(ctx: BuildContext):
    raw = _load(ctx, "budgets", load_budgets, BUDGETS)
    return budgets_table(ctx.con, raw, [ctx.billing_period], table="budgets_build")


def _budgets_valid(ctx: BuildContext, staged: str) -> tuple[bool, dict]:
    if not ctx.scratch["present"]:
        return True, {"file": ctx.scratch["path"], "note": "no file: nothing to validate"}
    result = validate_budgets(ctx.con, ctx.scratch["raw"], ctx.scratch["path"], _teams(ctx), CURRENCY, [ctx.billing_period])
    return _report(result, ctx.scratch["path"])


business_metrics_daily = curated_asset(CuratedTable(
    name="business_metrics_daily",
    description="Daily revenue, orders, active users and requests per team and product, validated "
                "(known teams and products, no duplicate keys, no negatives, every day present, one currency).",
    build=_build_metrics,
    gates=[GateSpec("metrics_file_valid", "The metrics file passes its GX suite for this billing period.", _metrics_valid),
           GateSpec("metrics_file_present", "A metrics file exists (without one, unit economics have no denominators).",
                    _present, blocking=False)],
    group="business",
    sort_by=["date", "team"],
))

budgets = curated_asset(CuratedTable(
    name="budgets",
    description="Monthly budgets per team (service_code NULL) or per team and service, validated.",
    build=_build_budgets,
    gates=[GateSpec("budgets_file_valid", "The budgets file passes its GX suite for this billing period.", _budgets_valid),
           GateSpec("budgets_file_present", "A budgets file exists.", _present, blocking=False)],
    group="business",
    sort_by=["team"],
))
