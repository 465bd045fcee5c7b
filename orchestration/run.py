"""Materialize every asset for a set of billing periods, in-process, recorded in the Dagster instance.

``dg.materialize`` runs in this process and bypasses the instance's run queue, so the queue's
one-run-per-partition limit does not apply: each period's run holds ``lake.period_lock`` (an
flock per lake and billing period) instead. A second ``curlake materialize`` of the same period
on the same lake waits for the first and then runs; runs of other periods go on in parallel.
Dagster runs launched from the UI or the sensor are queued by ``dagster.yaml``'s limit instead.

A CLI run killed with SIGKILL stays "started" in the instance; the next CLI run of its period and
lake, holding the lock and so knowing it dead, marks it failed (see ``_fail_dead_runs``).
"""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass, field

import dagster as dg

from orchestration.definitions import ASSETS
from orchestration.resources import DEFAULT_ALLOCATION_CONFIG, CurlakeSettings
from orchestration.sensors import FINGERPRINT_TAG
from transforms import lake as lake_io
from transforms.discover import IngestError, discover

LAUNCHED_BY_TAG = "curlake/launched_by"
LAKE_TAG = "curlake/lake"
_RUNNING = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


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
    try:
        deliveries = {d.billing_period: d for d in discover(source)}
    except IngestError as exc:  # a bad delivery found before any run: its message, not a traceback
        raise SystemExit(str(exc)) from exc
    found = sorted(deliveries)
    wanted = [m for m in (months or found)]
    missing = [m for m in wanted if m not in found]
    if missing:
        raise SystemExit(f"No delivery for {', '.join(missing)} under {source} (found: {', '.join(found) or 'none'})")
    settings = CurlakeSettings(source=source, lake=lake, allocation_config=allocation_config or DEFAULT_ALLOCATION_CONFIG)
    instance = _instance()
    outcomes = []
    root = lake_io.lake_root(lake)
    for period in wanted:
        def waiting(holder: str, period: str = period) -> None:
            print(f"{period}: another run of this billing period holds lake {root} ({holder}); waiting for it",
                  file=sys.stderr, flush=True)

        tags = {LAUNCHED_BY_TAG: "cli", LAKE_TAG: root}
        with lake_io.period_lock(lake, period, on_wait=waiting):
            _fail_dead_runs(instance, tags, period)
            result = dg.materialize(
                ASSETS,
                partition_key=period,
                instance=instance,
                resources={"settings": settings},
                raise_on_error=False,
                # Console logs at WARNING: the full event log is kept in the instance for the UI.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
                # The fingerprint tag tells the delivery sensor this delivery has been requested.
                tags=tags | {FINGERPRINT_TAG: deliveries[period].fingerprint},
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


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of DAGSTER_HOME, opened under an flock in that folder.

    Opening a fresh DAGSTER_HOME creates its SQLite schemas; two CLI runs starting at once on a
    new machine would both create them and leave the version table with two heads (every later
    run then fails). The lock makes the second wait for the first's schemas.
    """
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return dg.DagsterInstance.get()
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, ".curlake-instance.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        return dg.DagsterInstance.get()


def _fail_dead_runs(instance: dg.DagsterInstance, tags: dict[str, str], period: str) -> None:
    """Mark failed the CLI runs of this period and lake still recorded as running.

    Called with the period's lock held: a CLI run holds it while it runs, so any such run is a
    process that died without recording its end (SIGKILL, power loss). Left "started", it would
    hold the run queue's one-run-per-partition slot for UI and sensor runs forever.
    """
    dead = instance.get_runs(dg.RunsFilter(tags=tags | {"dagster/partition": period}, statuses=_RUNNING))
    for run in dead:
        instance.report_run_failed(run, message="The process running it died (killed?): marked failed by the next run of "
                                                f"billing period {period} on this lake.")


def _root_cause(error) -> str:
    """The message of the error our code raised, not of the framework's wrapping of it.

    Stops at the first error that is not Dagster's: an IngestError naming file and row is what
    to show, not the DuckDB error it was raised from.
    """
    if error is None:
        return "unknown error"
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    # Without the "module.Class: " prefix: our messages start with what they are about (a file).
    first = message.split("\n", 1)[0]
    return message.split(": ", 1)[1] if error.cls_name and first.split(": ", 1)[0].endswith(error.cls_name) else message


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
