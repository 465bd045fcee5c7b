"""Where curlake reads from and writes to, as one Dagster resource configured from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = os.environ.get("CURLAKE_SOURCE", str(REPO_ROOT / ".demo" / "source"))
DEFAULT_LAKE = os.environ.get("CURLAKE_LAKE", str(REPO_ROOT / ".demo" / "lake"))
DEFAULT_ALLOCATION_CONFIG = os.environ.get(
    "CURLAKE_ALLOCATION_CONFIG", str(REPO_ROOT / "config" / "allocation.yaml")
)


class CurlakeSettings(dg.ConfigurableResource):
    """Source export root, lake root and configuration files. Paths may be local or s3://.

    Credentials are never configured here: s3fs uses the standard AWS chain (environment,
    profile, instance role).
    """

    source: str = DEFAULT_SOURCE
    lake: str = DEFAULT_LAKE
    allocation_config: str = DEFAULT_ALLOCATION_CONFIG
    duckdb_memory_limit: str = os.environ.get("CURLAKE_DUCKDB_MEMORY_LIMIT", "4GB")

    @property
    def business_metrics_root(self) -> str:
        from transforms import storage

        return storage.join(self.source, "business_metrics")
