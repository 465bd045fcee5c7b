"""Jobs: refresh one billing period end to end (ingest, every curated table, the catalog)."""

from __future__ import annotations

import dagster as dg

from orchestration.partitions import billing_periods

refresh_billing_period = dg.define_asset_job(
    "refresh_billing_period",
    selection=dg.AssetSelection.all(),
    partitions_def=billing_periods,
    description="Ingest a billing period's delivery and rebuild every curated table of that period.",
)
