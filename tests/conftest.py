"""Shared fixtures: a real S3-compatible server on loopback (moto's server mode), a Dagster home,
and a sample lake materialized through Dagster once per session.

The S3 server is moto's ThreadedMotoServer speaking HTTP on 127.0.0.1, the way s3fs's own test
suite runs: curlake reaches it through s3fs exactly as it reaches AWS, with only the endpoint
changed (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
LEGACY_CSV_DIR = SHARED / "fixtures" / "anonymous-legacy-cur"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        mp.setenv("AWS_ACCESS_KEY_ID", "curlake-test-key")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "curlake-test-secret")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    """A fresh, empty bucket on the loopback S3 server; returns 's3://<bucket>'."""
    import boto3

    name = f"curlake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """An isolated Dagster instance (SQLite storage) configured by the repo's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


# ----------------------------------------------------------------------------------- the sample lake

SAMPLE_MONTHS = ["2025-01", "2025-02"]
SAMPLE_ROWS_PER_MONTH = 10_000
SAMPLE_SEED = 5


@dataclass(frozen=True)
class SampleLake:
    """The generated sample bill (``source``) and the lake materialized from it (``lake``)."""

    source: str
    lake: str


@pytest.fixture(scope="session")
def materialized_sample_lake(tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """Two months of a generated CUR 2.0 bill with every asset materialized through Dagster and the
    catalog built with the analyst views.

    Session-scoped because it is the slowest setup of the suite (a Dagster run of every asset for
    two months) and the tests that use it only read it (the showback asset test adds its pages
    under ``_reports/``, which is not a table): the dictionary, analyst-question and report tests
    share one build. Dagster runs against its own instance in the fixture's folder, so a
    developer's DAGSTER_HOME is never touched.
    """
    from orchestration.run import materialize_periods
    from transforms.dictionary import build_analyst_catalog
    from transforms.generate import generate

    root = tmp_path_factory.mktemp("curlake-sample")
    source, lake = str(root / "source"), str(root / "lake")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_bytes((REPO_ROOT / "dagster.yaml").read_bytes())
    generate(source, SAMPLE_MONTHS, SAMPLE_ROWS_PER_MONTH, seed=SAMPLE_SEED, fmt="cur2-parquet")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        outcome = materialize_periods(source, lake, SAMPLE_MONTHS)
    assert outcome.success, [p.error for p in outcome.periods]
    build_analyst_catalog(lake)
    return SampleLake(source, lake)
