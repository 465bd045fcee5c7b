"""Gates: blocking data-quality checks evaluated on staged data before anything is published.

Each curated asset stages its output, evaluates its gates, and publishes only if every
blocking gate passed. The gates are reported as Dagster asset check results (visible in the UI
with their observed values); a failed blocking gate fails the step, so nothing is published and
downstream assets do not run. The lake keeps its last good version.
"""


from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dagster as dg


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    description: str
    observed: dict[str, Any] = field(default_factory=dict)
    blocking: bool = True


def check_specs(asset_key: str, gates: Iterable[tuple[str, str, bool]]) -> list[dg.AssetCheckSpec]:
    """Declare the gates of an asset: (name, description, blocking)."""
    return [
        dg.AssetCheckSpec(name, asset=asset_key, description=desc, blocking=blocking)
        for name, desc, blocking in gates
    ]


def _metadata_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return dg.MetadataValue.float(float(value))
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, (dict, list, tuple)):
        return dg.MetadataValue.json(_jsonable(value))
    return dg.MetadataValue.text(str(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def metadata(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _metadata_value(v) for k, v in values.items()}


def gated_publish(
    context: dg.AssetExecutionContext,
    gates: list[Gate],
    publish: Callable[[], dict[str, Any]],
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Report every gate; publish (and materialize) only if no blocking gate failed."""
    for gate in gates:
        yield dg.AssetCheckResult(
            check_name=gate.name,
            passed=gate.passed,
            severity=dg.AssetCheckSeverity.ERROR if gate.blocking else dg.AssetCheckSeverity.WARN,
            description=gate.description,
            metadata=metadata(gate.observed),
        )
    failed = [g for g in gates if g.blocking and not g.passed]
    if failed:
        lines = "\n".join(f"- {g.name}: {g.description}" for g in failed)
        raise dg.Failure(
            description=(
                f"{len(failed)} blocking gate(s) failed; nothing was published and the lake keeps "
                f"its last good version:\n{lines}"
            ),
            metadata=metadata({g.name: g.observed for g in failed}),
        )
    yield dg.MaterializeResult(metadata=metadata(publish()))
