"""The efficiency credit score: KPIs per team and week, a composite score, recommendations.

Everything is DuckDB SQL over the canonical line items (allocated to owners by
transforms.allocation) and the insight tables, one billing period at a time, returned as lazy
relations. Definitions, the score formula with a worked example, and the saving rates:
docs/credit_score.md; goals and weights: config/credit_score.yaml.
"""

from transforms.efficiency.config import ConfigError, CreditScoreConfig, load_config
from transforms.efficiency.checks import check_composite, check_kpi_shares, check_weights
from transforms.efficiency.kpis import build_efficiency_kpis
from transforms.efficiency.recommendations import build_recommendations
from transforms.efficiency.score import build_credit_score
from transforms.efficiency.sqlparts import SHARED_OWNER, UNALLOCATED_OWNER

__all__ = [
    "ConfigError",
    "CreditScoreConfig",
    "SHARED_OWNER",
    "UNALLOCATED_OWNER",
    "build_credit_score",
    "build_efficiency_kpis",
    "build_recommendations",
    "check_composite",
    "check_kpi_shares",
    "check_weights",
    "load_config",
]
