"""Deliveries caught mid-upload or overwritten while a run reads them, on the loopback S3 server.

AWS writes a delivery's files and manifest one by one and overwrites them in place when it
re-delivers. A run must never publish rows of two deliveries, nor a month missing files:

- a manifest naming files not there yet fails the run naming the manifest and the file; the
  delivery sensor requests nothing and says why, then requests the month once it is complete;
- an object overwritten in the middle of a read (its ETag changes between the open and a
  ranged GET, which s3fs sends with If-Match) fails the read, naming the file;
- an object overwritten after discovery but before it is opened is read whole and consistent,
  but it is not the delivery the run discovered: ``verify_unchanged`` fails the run before
  anything is published;
- a failed run's delivery is requested again by the sensor, a bounded number of times.

The overwrites are done by the proxy's hooks, at the exact request where they hurt.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import boto3
import dagster as dg
import pyarrow.parquet as pq
import pytest

import cur_builders as cb
from faults import bucket, faults, proxy  # noqa: F401  (fixtures)
from faults import Fault, catalog_totals, lake_state, priced_rows, priced_total, step_error, upload_tree
from faults import materialize_ingest as materialize
from orchestration.resources import CurlakeSettings
from orchestration.sensors import FINGERPRINT_TAG, MAX_ATTEMPTS, cur_delivery_sensor, delivery_run_requests
from transforms import lake as lake_io
from transforms import storage
from transforms.discover import discover

PERIOD = "2025-01"


def build(tmp_path, rows: list[dict], n_files: int, execution_id: str = "exec-0001"):
    """A CUR 2.0 delivery written locally: (local root, data file paths)."""
    root = tmp_path / f"export-{execution_id}"
    paths = cb.write_cur2_parquet(root, PERIOD, rows, n_files=n_files, execution_id=execution_id)
    return root, paths


def put_upstream(s3_endpoint: str, url: str, data: bytes) -> None:
    """Write an object straight to the S3 server, not through the proxy (AWS re-delivering)."""
    parts = urlsplit(url)
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=data)


@pytest.fixture(scope="module")
def published(proxy, bucket, tmp_path_factory):
    """A local lake holding a good version of the month (1000 line items); the tests' runs must fail
    and leave it as it is."""
    tmp = tmp_path_factory.mktemp("published")
    root, _ = build(tmp, priced_rows(PERIOD, "good", 1000), 1)
    upload_tree(root, f"{bucket}/good/export")
    lake = str(tmp / "lake")
    assert materialize(f"{bucket}/good/export", lake).success
    return lake


def test_manifest_naming_files_not_yet_uploaded_fails_and_the_sensor_waits(faults, bucket, tmp_path, dagster_home):
    source = f"{bucket}/midupload/export"
    lake = str(tmp_path / "lake")
    instance = dg.DagsterInstance.get()
    root, _ = build(tmp_path / "v1", priced_rows(PERIOD, "v1", 500), 1)
    upload_tree(root, source)
    assert materialize(source, lake, instance=instance).success
    before = lake_state(lake)

    # AWS re-delivers: the new manifest and the first of two data files are there, the second is not yet.
    new_root, new_files = build(tmp_path / "v2", priced_rows(PERIOD, "v2", 1200), 2, execution_id="exec-0002")
    missing = new_files[1]
    missing.rename(tmp_path / "held-back.parquet")
    upload_tree(new_root, source)

    result = materialize(source, lake, instance=instance)
    assert not result.success
    manifest = f"{source}/cur2/metadata/BILLING_PERIOD={PERIOD}/cur2-Manifest.json"
    assert step_error(result) == (
        f"{manifest}: manifest names data file "
        f"'s3://billing-bucket/exports/cur2/data/BILLING_PERIOD={PERIOD}/cur2-00002.snappy.parquet', "
        f"which does not exist under {source}/cur2"
    )
    assert lake_state(lake) == before
    assert catalog_totals(lake) == {PERIOD: (500, priced_total(500))}

    settings = CurlakeSettings(source=source, lake=lake)

    def sensor():
        return cur_delivery_sensor(dg.build_sensor_context(instance=instance, resources={"settings": settings}))

    waiting = sensor()
    assert isinstance(waiting, dg.SkipReason)
    assert "cur2-00002.snappy.parquet', which does not exist" in waiting.skip_message

    # The upload completes: the sensor requests the month with the complete delivery's fingerprint.
    storage.filesystem(source).put_file(str(tmp_path / "held-back.parquet"),
                                        storage.strip_protocol(f"{source}/cur2/data/BILLING_PERIOD={PERIOD}/cur2-00002.snappy.parquet"))
    (request,) = sensor().run_requests
    (delivery,) = discover(source)
    assert (request.partition_key, request.tags[FINGERPRINT_TAG]) == (PERIOD, delivery.fingerprint)
    assert materialize(source, lake, instance=instance).success
    assert catalog_totals(lake) == {PERIOD: (1200, priced_total(1200))}


def test_object_overwritten_in_the_middle_of_a_read_fails_naming_it(faults, published, bucket, s3_endpoint, tmp_path):
    before = lake_state(published)
    source = f"{bucket}/midread/export"
    root, files = build(tmp_path, priced_rows(PERIOD, "mid", 2000), 4)
    upload_tree(root, source)
    second = f"{source}/{files[1].relative_to(root).as_posix()}"
    replacement = tmp_path / "replacement.parquet"
    pq.write_table(cb.cur2_table(priced_rows(PERIOD, "new", 10)), replacement)
    # The file is opened (HEAD: ETag E1) and read; before its second GET, AWS overwrites it (E2):
    # that GET carries If-Match: E1 and gets 412 Precondition Failed.
    faults.add(Fault("hook", key=re.escape(urlsplit(second).path) + "$", method="GET", skip=1, times=1,
                     hook=lambda: put_upstream(s3_endpoint, second, replacement.read_bytes())))

    result = materialize(source, published)

    assert not result.success
    message = step_error(result)
    assert message.startswith((f"{second}: could not be read from storage: ", f"{second}: cannot be read for reconciliation: ")), message
    assert "no longer exists" in message  # s3fs's FileExpired: the ETag the read started with is gone
    assert [r.status for r in faults.requests(re.escape(urlsplit(second).path) + "$", "GET")][1] == 412
    assert lake_state(published) == before
    assert catalog_totals(published) == {PERIOD: (1000, priced_total(1000))}


def test_object_overwritten_after_discovery_is_detected_before_publishing(faults, published, bucket, s3_endpoint, tmp_path):
    before = lake_state(published)
    source = f"{bucket}/late/export"
    root, files = build(tmp_path, priced_rows(PERIOD, "late", 2000), 4)
    upload_tree(root, source)
    second = f"{source}/{files[1].relative_to(root).as_posix()}"
    listed = {f.path: f for f in discover(source)[0].files}[second]
    replacement = tmp_path / "replacement.parquet"
    pq.write_table(cb.cur2_table(priced_rows(PERIOD, "new", 10)), replacement)
    # Overwritten after the run listed the delivery, before anything opened this file: every read
    # of it sees the new object, whole and consistent, so only the ETag check can tell.
    faults.add(Fault("hook", key=re.escape(urlsplit(second).path) + "$", method="HEAD", times=1,
                     hook=lambda: put_upstream(s3_endpoint, second, replacement.read_bytes())))

    result = materialize(source, published)

    assert not result.success
    now = {f.path: f for f in discover(source)[0].files}[second]
    assert step_error(result) == (
        f"delivery exec-0001 of billing period {PERIOD} changed while it was read (overwritten in place): "
        f"{second}: size {listed.size} -> {now.size}, ETag {listed.etag} -> {now.etag}. "
        "Nothing read from it is published; the next run reads the new delivery."
    )
    assert lake_state(published) == before

    faults.clear()  # the next run reads the new delivery whole: file 2 now holds 10 line items
    lake = str(tmp_path / "lake")
    assert materialize(source, lake).success
    assert catalog_totals(lake) == {PERIOD: (1510, priced_total(2000) - _share(2000, 4, 1) + priced_total(10))}
    (record,) = lake_io.version_records(lake, "cost_line_items", PERIOD)
    assert record["lineage"]["fingerprint"] == discover(source)[0].fingerprint


def _share(n: int, n_files: int, index: int):
    """The unblended total of the rows ``cb.write_cur2_parquet`` puts in file ``index`` (round-robin)."""
    from decimal import Decimal

    return sum(Decimal(i % 97) / 100 + Decimal("0.001") for i in range(index, n, n_files))


def test_sensor_requests_a_failed_delivery_again_a_bounded_number_of_times(tmp_path, dagster_home):
    cb.write_cur2_parquet(tmp_path, PERIOD, priced_rows(PERIOD, "s", 3))
    (delivery,) = discover(str(tmp_path))
    instance = dg.DagsterInstance.get()

    @dg.asset
    def failing():
        raise dg.Failure("S3 kept failing")

    def requests():
        return delivery_run_requests(instance, str(tmp_path), dg.get_dagster_logger())

    def failed_run():
        run = dg.materialize([failing], instance=instance, tags={FINGERPRINT_TAG: delivery.fingerprint}, raise_on_error=False)
        assert not run.success

    assert [r.run_key for r in requests()] == [f"{PERIOD}:{delivery.fingerprint}"]
    for attempt in range(2, MAX_ATTEMPTS + 1):
        failed_run()
        assert [r.run_key for r in requests()] == [f"{PERIOD}:{delivery.fingerprint}:attempt-{attempt}"]
    failed_run()
    assert requests() == []  # MAX_ATTEMPTS failures: wait for a re-delivery (a new fingerprint)

    @dg.asset(name="failing")
    def succeeding():
        return None

    assert dg.materialize([succeeding], instance=instance, tags={FINGERPRINT_TAG: delivery.fingerprint}).success
    assert requests() == []
