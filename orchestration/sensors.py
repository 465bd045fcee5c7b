"""Notice new and re-delivered CUR exports and request the affected billing periods.

AWS Data Exports overwrite files in place, so a delivery is recognised by its fingerprint
(manifest and file ETags and sizes), never by key names. A billing period is requested when its
current fingerprint has not yet been requested (tag `curlake/fingerprint` on a run). The sensor
checks every few minutes; the hourly schedule is the fallback when sensors are switched off.
"""


import dagster as dg

from orchestration.jobs import refresh_billing_period
from orchestration.partitions import billing_periods
from orchestration.resources import CurlakeSettings
from transforms.discover import discover

FINGERPRINT_TAG = "curlake/fingerprint"


def delivery_run_requests(instance: dg.DagsterInstance, source: str, log) -> list[dg.RunRequest]:
    """One RunRequest per billing period whose current delivery has not been requested yet."""
    known = set(billing_periods.get_partition_keys())
    requests = []
    for delivery in discover(source):
        period = delivery.billing_period
        if period not in known:
            log.warning(f"{period}: delivery found but outside the partitions (set CURLAKE_FIRST_MONTH)")
            continue
        tags = {FINGERPRINT_TAG: delivery.fingerprint}
        if instance.get_run_records(dg.RunsFilter(tags=tags), limit=1):
            continue
        log.info(f"{period}: new or changed delivery {delivery.delivery_id} ({delivery.format})")
        requests.append(
            dg.RunRequest(
                run_key=f"{period}:{delivery.fingerprint}",
                partition_key=period,
                tags=tags | {"curlake/delivery_id": delivery.delivery_id},
            )
        )
    return requests


@dg.sensor(job=refresh_billing_period, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.STOPPED)
def cur_delivery_sensor(context: dg.SensorEvaluationContext, settings: CurlakeSettings):
    requests = delivery_run_requests(context.instance, settings.source, context.log)
    if not requests:
        return dg.SkipReason(f"No new or changed delivery under {settings.source}")
    return dg.SensorResult(run_requests=requests)


@dg.schedule(job=refresh_billing_period, cron_schedule="15 * * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def hourly_delivery_check(context: dg.ScheduleEvaluationContext, settings: CurlakeSettings):
    requests = delivery_run_requests(context.instance, settings.source, context.log)
    return requests or dg.SkipReason(f"No new or changed delivery under {settings.source}")
