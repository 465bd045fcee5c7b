"""One partition per billing period, 'YYYY-MM', the open month included."""

from __future__ import annotations

import os

import dagster as dg

FIRST_MONTH = os.environ.get("CURLAKE_FIRST_MONTH", "2020-01")

billing_periods = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH,
    fmt="%Y-%m",
    # end_offset=1 adds the open (current) month, which AWS re-delivers several times a day.
    end_offset=1,
)

# Run tag shared by every run that writes a billing period; dagster.yaml limits runs to one per
# unique value of dagster/partition, so two writers never touch one partition at once.
PARTITION_TAG = "dagster/partition"
