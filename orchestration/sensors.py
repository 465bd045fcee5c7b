"""Notice new and re-delivered CUR exports and request the affected billing periods.

AWS Data Exports overwrite files in place, so a delivery is recognised by its fingerprint
(manifest and file ETags and sizes), never by key names. A billing period is requested when its
current fingerprint has not yet been requested (tag `curlake/fingerprint` on a run). The sensor
checks every few minutes; the hourly schedule is the fallback when sensors are switched off.

Failures: a run of a delivery that failed (S3 still failing after the client's retries, a
delivery overwritten while it was read) is requested again on the next evaluation, up to
`MAX_ATTEMPTS` runs per fingerprint, so a transient fault heals by itself and a bad delivery is
not retried forever (it is retried as soon as AWS delivers it again: a new fingerprint). A source
that cannot be listed coherently, typically a delivery caught mid-upload whose manifest names
files not there yet, requests nothing and says why in the skip reason: the next evaluation
sees the complete delivery.
"""


import dagster as dg

from orchestration.jobs import refresh_billing_period
from orchestration.partitions import billing_periods
from orchestration.resources import CurlakeSettings
from transforms.discover import IngestError, discover

FINGERPRINT_TAG = "curlake/fingerprint"
# Runs per delivery fingerprint before the sensor stops requesting it.
MAX_ATTEMPTS = 3
_GAVE_UP = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def delivery_run_requests(instance: dg.DagsterInstance, source: str, log) -> list[dg.RunRequest]:
    """One RunRequest per billing period whose current delivery has no successful or pending run.

    Raises IngestError when the source's deliveries cannot be discovered (see the module docstring).
    """
    known = set(billing_periods.get_partition_keys())
    requests = []
    for delivery in discover(source):
        period = delivery.billing_period
        if period not in known:
            log.warning(f"{period}: delivery found but outside the partitions (set CURLAKE_FIRST_MONTH)")
            continue
        tags = {FINGERPRINT_TAG: delivery.fingerprint}
        runs = instance.get_run_records(dg.RunsFilter(tags=tags))
        if any(r.dagster_run.status not in _GAVE_UP for r in runs):
            continue  # requested: queued, running or done
        if len(runs) >= MAX_ATTEMPTS:
            log.warning(f"{period}: delivery {delivery.delivery_id} failed {len(runs)} runs; not requested again "
                        "until it is re-delivered (or materialized by hand)")
            continue
        log.info(f"{period}: new or changed delivery {delivery.delivery_id} ({delivery.format})"
                 + (f", attempt {len(runs) + 1} of {MAX_ATTEMPTS}" if runs else ""))
        requests.append(
            dg.RunRequest(
                run_key=f"{period}:{delivery.fingerprint}" + (f":attempt-{len(runs) + 1}" if runs else ""),
                partition_key=period,
                tags=tags | {"curlake/delivery_id": delivery.delivery_id},
            )
        )
    return requests


def _evaluate(instance: dg.DagsterInstance, source: str, log) -> list[dg.RunRequest] | dg.SkipReason:
    try:
        requests = delivery_run_requests(instance, source, log)
    except IngestError as exc:
        return dg.SkipReason(
            f"Nothing requested: the deliveries under {source} cannot be read as they are ({exc}). "
            "A delivery caught mid-upload is complete at a later evaluation; anything else needs fixing at the source."
        )
    return requests or dg.SkipReason(f"No new or changed delivery under {source}")


@dg.sensor(job=refresh_billing_period, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED)
def cur_delivery_sensor(context: dg.SensorEvaluationContext, settings: CurlakeSettings):
    outcome = _evaluate(context.instance, settings.source, context.log)
    return outcome if isinstance(outcome, dg.SkipReason) else dg.SensorResult(run_requests=outcome)


@dg.schedule(job=refresh_billing_period, cron_schedule="15 * * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def hourly_delivery_check(context: dg.ScheduleEvaluationContext, settings: CurlakeSettings):
    return _evaluate(context.instance, settings.source, context.log)
