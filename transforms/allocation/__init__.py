"""Cost allocation: owners from rules, tags and accounts; shared-cost pools split to the cent; KPIs and gates.

Everything is DuckDB SQL over the canonical ``cost_line_items`` table, one billing period at a
time, returned as lazy relations: line items are never pulled into Python. The SQL lives in
``sql/cost_allocation``, ``sql/shared_cost_split``, ``sql/allocation_coverage`` and
``sql/tag_compliance``; the rules in one YAML file (config/allocation.yaml). See docs/allocation.md.
"""

from transforms.allocation.checks import (
    check_allocated_once,
    check_conservation,
    check_coverage,
    check_owners_configured,
)
from transforms.allocation.config import AllocationConfig, ConfigError, load_config
from transforms.allocation.kpis import (
    build_allocation_coverage,
    build_tag_compliance,
    build_tag_key_variants,
    build_unallocated_drivers,
)
from transforms.allocation.lineitems import ALLOCATION_METHODS, allocate_line_items
from transforms.allocation.split import build_cost_allocation, build_shared_cost_split

__all__ = [
    "ALLOCATION_METHODS",
    "AllocationConfig",
    "ConfigError",
    "allocate_line_items",
    "build_allocation_coverage",
    "build_cost_allocation",
    "build_shared_cost_split",
    "build_tag_compliance",
    "build_tag_key_variants",
    "build_unallocated_drivers",
    "check_allocated_once",
    "check_conservation",
    "check_coverage",
    "check_owners_configured",
    "load_config",
]
