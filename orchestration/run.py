"""Materialize every asset for a set of billing periods, in-process, recorded in the Dagster instance."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from orchestration.definitions import ASSETS
from orchestration.resources import DEFAULT_ALLOCATION_CONFIG, CurlakeSettings
from orchestration.sensors import FINGERPRINT_TAG
from transforms.discover import discover


@dataclass
class PeriodOutcome:
    billing_period: str
    success: bool
    run_id: str
    checks: list[tuple[str, str, bool, bool]] = field(default_factory=list)  # (asset, check, passed, blocking)
    materialized: dict[str, dict] = field(default_factory=dict)  # asset -> metadata
    error: str | None = None


@dataclass
class Outcome:
    periods: list[PeriodOutcome]

    @property
    def success(self) -> bool:
        return bool(self.periods) and all(p.success for p in self.periods)


def materialize_periods(source: str, lake: str, months: list[str] | None, allocation_config: str | None = None) -> Outcome:
    deliveries = {d.billing_period: d for d in discover(source)}
    found = sorted(deliveries)
    wanted = [m for m in (months or found)]
    missing = [m for m in wanted if m not in found]
    if missing:
        raise SystemExit(f"No delivery for {', '.join(missing)} under {source} (found: {', '.join(found) or 'none'})")
    settings = CurlakeSettings(source=source, lake=lake, allocation_config=allocation_config or DEFAULT_ALLOCATION_CONFIG)
    instance = dg.DagsterInstance.get()
    outcomes = []
    for period in wanted:
        result = dg.materialize(
            ASSETS,
            partition_key=period,
            instance=instance,
            resources={"settings": settings},
            raise_on_error=False,
            # Console logs at WARNING: the full event log is kept in the instance for the UI.
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            # The fingerprint tag tells the delivery sensor this delivery has been requested.
            tags={"curlake/launched_by": "cli", FINGERPRINT_TAG: deliveries[period].fingerprint},
        )
        outcome = PeriodOutcome(period, result.success, result.run_id)
        for ev in result.get_asset_check_evaluations():
            blocking = ev.severity == dg.AssetCheckSeverity.ERROR
            outcome.checks.append((ev.asset_key.to_user_string(), ev.check_name, ev.passed, blocking))
        for ev in result.get_asset_materialization_events():
            mat = ev.step_materialization_data.materialization
            outcome.materialized[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
        if not result.success:
            failures = [e for e in result.all_events if e.is_step_failure]
            outcome.error = "\n".join(f"{e.step_key}: {_root_cause(e.step_failure_data.error)}" for e in failures)
        outcomes.append(outcome)
    return Outcome(outcomes)


def _root_cause(error) -> str:
    """The innermost error's message: what went wrong, not the framework's wrapping of it."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def print_summary(outcome: Outcome, lake: str) -> None:
    print()
    print(f"{'billing period':<15}{'rows':>14}{'unblended USD':>18}{'amortized USD':>18}  checks")
    for p in outcome.periods:
        meta = p.materialized.get("cost_line_items", {})
        passed = sum(1 for c in p.checks if c[2])
        warned = sum(1 for c in p.checks if not c[2] and not c[3])
        rows = meta.get("rows")
        unb, amo = meta.get("unblended_cost"), meta.get("amortized_cost")
        print(f"{p.billing_period:<15}{rows if rows is not None else '-':>14,}" if rows is not None else f"{p.billing_period:<15}{'-':>14}", end="")
        print(f"{unb:>18,.2f}{amo:>18,.2f}" if unb is not None else f"{'-':>18}{'-':>18}", end="")
        print(f"  {passed}/{len(p.checks)} passed" + (f", {warned} warning(s)" if warned else "") + ("" if p.success else "  FAILED"))
        for asset, check, ok, blocking in p.checks:
            if not ok:
                print(f"    {'FAILED' if blocking else 'warning'}: {asset}.{check}")
        if p.error:
            for line in p.error.splitlines()[:40]:
                print(f"    {line}")
    print(f"\nLake: {lake}  (tables under <lake>/<table>/billing_period=YYYY-MM/, catalog {lake.rstrip('/')}/catalog.duckdb)")
    print(f"Query it:  curlake query \"SELECT * FROM cost_line_items LIMIT 5\" --lake {lake}   or  duckdb -readonly {lake.rstrip('/')}/catalog.duckdb")
    print("Result: " + ("all checks passed" if outcome.success else "FAILED (see above)"))
