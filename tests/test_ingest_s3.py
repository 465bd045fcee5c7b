"""The same ingestion over s3:// (moto server): listing with ETags, DuckDB reading through s3fs."""

from __future__ import annotations

from decimal import Decimal as D

import boto3
import pytest
from moto.server import ThreadedMotoServer

import cur_builders as cb
from transforms import duck
from transforms.discover import discover
from transforms.readers import ingest_errors, read_delivery
from transforms.reconcile import source_totals

BUCKET = "billing-bucket"


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint, monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def upload(client, local_root, prefix: str) -> None:
    for path in sorted(p for p in local_root.rglob("*") if p.is_file()):
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{path.relative_to(local_root).as_posix()}", Body=path.read_bytes())


def test_discover_read_and_reconcile_over_s3(s3, tmp_path):
    rows = [cb.cur2_row("2025-01", line_item_unblended_cost=1.25, identity_line_item_id="a"),
            cb.cur2_row("2025-01", line_item_line_item_type="Tax", line_item_unblended_cost=0.1, identity_line_item_id="b")]
    # The manifest names s3://billing-bucket/exports/cur2/..., where the files are uploaded.
    cb.write_cur2_parquet(tmp_path, "2025-01", rows, n_files=2)
    upload(s3, tmp_path, "exports")
    s3.put_object(Bucket=BUCKET, Key="exports/legacy/20231101-20231201/sample.csv",
                  Body=cb.LEGACY_CSV_FIXTURE.read_bytes())

    legacy, cur2 = discover(f"s3://{BUCKET}/exports")
    assert (legacy.billing_period, legacy.format, cur2.billing_period, cur2.format) == (
        "2023-11", "legacy-csv", "2025-01", "cur2-parquet")
    head = s3.head_object(Bucket=BUCKET, Key="exports/cur2/data/BILLING_PERIOD=2025-01/cur2-00001.snappy.parquet")
    first = cur2.files[0]
    assert first.path == f"s3://{BUCKET}/exports/cur2/data/BILLING_PERIOD=2025-01/cur2-00001.snappy.parquet"
    assert (first.etag, first.size) == (head["ETag"].strip('"'), head["ContentLength"])

    con = duck.connect()
    with ingest_errors():
        ((unblended, sources),) = read_delivery(con, cur2).aggregate(
            "sum(unblended_cost), list(DISTINCT source_file ORDER BY source_file)").fetchall()
        ((legacy_unblended,),) = read_delivery(con, legacy).aggregate("sum(unblended_cost)").fetchall()
    assert unblended == D("1.35") and sources == [f.path for f in cur2.files]
    assert round(legacy_unblended, 6) == D("1.682309")
    assert source_totals(cur2)["unblended_cost"] == D("1.35")
    assert abs(source_totals(legacy)["unblended_cost"] - legacy_unblended) <= D("1e-6")

    # Re-delivery in place: same key, new object -> new ETag -> new fingerprint.
    cb.write_cur2_parquet(tmp_path, "2025-01", [cb.cur2_row("2025-01", line_item_unblended_cost=2.0)] * 2,
                          n_files=2, manifest=False)
    s3.put_object(Bucket=BUCKET, Key="exports/cur2/data/BILLING_PERIOD=2025-01/cur2-00001.snappy.parquet",
                  Body=(tmp_path / "cur2/data/BILLING_PERIOD=2025-01/cur2-00001.snappy.parquet").read_bytes())
    (_, again) = discover(f"s3://{BUCKET}/exports")
    assert again.files[0].etag != first.etag and again.fingerprint != cur2.fingerprint
