"""The credit score configuration: component goals and weights, saving rates, family maps.

One YAML file (config/credit_score.yaml) holds every number a team could argue about, so that the
central FinOps team changes a goal in review, not in SQL. It is validated completely before any
SQL runs; every mistake is reported as ``file:line:column: key.path: what is wrong``.
Values never become SQL text: the builders bind them as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from transforms.allocation.config import _Node  # the YAML walker with positions (shared, not copied)

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "config" / "credit_score.yaml"

# The score components: KPIs of efficiency_kpis. Shares are fractions in [0, 1]; the two ratios
# compare a cost with a reference (budget, last period's unit cost) and may exceed 1.
SHARE_KPIS: tuple[str, ...] = (
    "graviton_coverage", "spot_coverage", "commitment_coverage", "commitment_utilization",
    "gp3_share", "s3_storage_class_share", "previous_generation_share", "tagging_compliance",
)
RATIO_KPIS: tuple[str, ...] = ("budget_adherence", "unit_cost_trend")
KPIS: tuple[str, ...] = SHARE_KPIS + RATIO_KPIS
SAVING_RATES: tuple[str, ...] = ("graviton", "spot", "commitment", "gp3", "s3_tiering", "previous_generation")
DRIVERS: tuple[str, ...] = ("orders", "active_users", "revenue")
# Weights must sum to one; decimals in the file are exact, so this only absorbs nothing but typos.
WEIGHT_TOLERANCE = Decimal("0.000001")


class ConfigError(ValueError):
    """An invalid credit score configuration; the message names the file, line, column and key."""


@dataclass(frozen=True)
class Component:
    """A scored KPI: 100 points at ``goal`` or better, 0 at ``zero_at`` or worse, linear between."""

    kpi: str
    goal: Decimal
    zero_at: Decimal
    weight: Decimal

    @property
    def higher_is_better(self) -> bool:
        return self.goal > self.zero_at


@dataclass(frozen=True)
class CreditScoreConfig:
    path: str
    components: tuple[Component, ...]
    saving_rates: dict[str, Decimal]
    graviton_equivalents: tuple[tuple[str, str], ...]
    previous_generation: tuple[tuple[str, str], ...]
    s3_tiered_classes: tuple[str, ...]
    default_driver: str
    team_drivers: tuple[tuple[str, str], ...]
    top_n: int = 5
    min_monthly_savings: Decimal = Decimal("1.00")
    resources: int = 10

    def component(self, kpi: str) -> Component:
        return next(c for c in self.components if c.kpi == kpi)

    def components_param(self) -> list[dict[str, object]]:
        """The components as a list of structs for SQL (DOUBLE: scores are DOUBLE)."""
        return [
            {"kpi": c.kpi, "goal": float(c.goal), "zero_at": float(c.zero_at), "weight": float(c.weight)}
            for c in self.components
        ]


def load_config(path: str | Path = DEFAULT_PATH) -> CreditScoreConfig:
    """Read and validate a credit score config; raise ConfigError naming file, line, column and key."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read credit score config: {exc.strerror or exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        root_node = loader.get_single_node()
        if root_node is None:
            raise ConfigError(f"{file}:1:1: the credit score config is empty")
        try:
            return _build(file, _Node(root_node, "", file, loader))
        except ValueError as exc:  # _Node raises the allocation module's ConfigError
            raise ConfigError(str(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()


def _build(file: str, root: _Node) -> CreditScoreConfig:
    top = root.mapping(
        allowed=(
            "version", "components", "saving_rates", "graviton_equivalents", "previous_generation",
            "s3_tiered_classes", "unit_cost", "recommendations",
        ),
        required=("version", "components", "saving_rates", "graviton_equivalents", "previous_generation",
                  "s3_tiered_classes", "unit_cost"),
    )
    if top["version"].integer() != 1:
        raise top["version"].error("only version 1 is supported")
    components = _components(top["components"])
    rates_node = top["saving_rates"]
    rates = {}
    for name, node in rates_node.mapping(allowed=SAVING_RATES, required=SAVING_RATES).items():
        rates[name] = _fraction(node)
    unit = top["unit_cost"].mapping(allowed=("default_driver", "teams"), required=("default_driver",))
    team_drivers = tuple(
        (team, node.choice(DRIVERS)) for team, node in (unit["teams"].mapping() if "teams" in unit else {}).items()
    )
    rec = top["recommendations"].mapping(allowed=("top_n", "min_monthly_savings", "resources")) \
        if "recommendations" in top else {}
    top_n = _positive_int(rec["top_n"]) if "top_n" in rec else 5
    resources = _positive_int(rec["resources"]) if "resources" in rec else 10
    min_savings = rec["min_monthly_savings"].decimal() if "min_monthly_savings" in rec else Decimal("1.00")
    if min_savings < 0:
        raise rec["min_monthly_savings"].error(f"must not be negative, got {min_savings}")
    return CreditScoreConfig(
        path=file,
        components=components,
        saving_rates=rates,
        graviton_equivalents=_family_map(top["graviton_equivalents"]),
        previous_generation=_family_map(top["previous_generation"]),
        s3_tiered_classes=top["s3_tiered_classes"].strings(),
        default_driver=unit["default_driver"].choice(DRIVERS),
        team_drivers=team_drivers,
        top_n=top_n,
        min_monthly_savings=min_savings,
        resources=resources,
    )


def _components(node: _Node) -> tuple[Component, ...]:
    entries = node.mapping(allowed=KPIS)
    if not entries:
        raise node.error(f"at least one component is required; expected some of: {', '.join(KPIS)}")
    out = []
    for kpi, entry in entries.items():
        fields = entry.mapping(allowed=("goal", "zero_at", "weight"), required=("goal", "zero_at", "weight"))
        goal, zero_at, weight = fields["goal"].decimal(), fields["zero_at"].decimal(), fields["weight"].decimal()
        if kpi in SHARE_KPIS:
            for name in ("goal", "zero_at"):
                value = fields[name].decimal()
                if not 0 <= value <= 1:
                    raise fields[name].error(f"{kpi} is a share: {name} must be between 0 and 1, got {value}")
        elif goal < 0 or zero_at < 0:
            raise entry.error(f"{kpi} is a ratio of costs: goal and zero_at must not be negative")
        if goal == zero_at:
            raise fields["zero_at"].error(f"must differ from goal ({goal}): the score would divide by zero")
        if not 0 <= weight <= 1:
            raise fields["weight"].error(f"must be between 0 and 1, got {weight}")
        out.append(Component(kpi, goal, zero_at, weight))
    total = sum((c.weight for c in out), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        listed = " + ".join(f"{c.kpi} {c.weight}" for c in out)
        raise node.error(f"weights must sum to 1, got {total} ({listed})")
    return tuple(out)


def _fraction(node: _Node) -> Decimal:
    value = node.decimal()
    if not 0 <= value <= 1:
        raise node.error(f"must be a fraction between 0 and 1, got {value}")
    return value


def _positive_int(node: _Node) -> int:
    value = node.integer()
    if value < 1:
        raise node.error(f"must be at least 1, got {value}")
    return value


def _family_map(node: _Node) -> tuple[tuple[str, str], ...]:
    """An instance family map ``from: to``; families are lowercase names such as m5 or r7gd."""
    out = []
    for family, target in node.mapping().items():
        to = target.string()
        for value, where in ((family, target), (to, target)):
            if not value.isalnum() or value != value.lower():
                raise where.error(f"{value!r} is not an instance family (lowercase letters and digits, e.g. m5)")
        out.append((family, to))
    return tuple(out)
