"""SQL fragments and bound parameters built from an AllocationConfig.

Rules are evaluated as one ``CASE WHEN <rule 1> THEN 1 WHEN <rule 2> THEN 2 ... END`` whose
conditions compare columns with ``$rule_<n>_<condition>`` parameters. The text is generated (one
fixed template per condition kind, numbered placeholders) but holds no config value: patterns,
tag values and account ids are all bound. The alternative of joining line items to a rules table
(``regexp_matches(resource_id, rules.pattern)``) makes DuckDB compile the pattern for every row:
measured on 2M line items x 10 rules, 25 s for the join against 0.17 s for the bound CASE, whose
patterns are constants compiled once.
"""

from __future__ import annotations

from typing import Any

from transforms.allocation.config import DIMENSIONS, AllocationConfig, Match

# Line item columns each list / pattern condition reads (identifiers fixed here).
_LIST_COLUMNS = {
    "service": "service_code",
    "account": "usage_account_id",
    "charge_category": "charge_category",
    "line_item_type": "line_item_type",
}
_REGEX_COLUMNS = {"usage_type": "usage_type", "operation": "operation", "resource_id": "resource_id"}


def normalized_value_sql(config: AllocationConfig, expr: str) -> str:
    """SQL that normalizes a tag value expression like the config says (trim, case); empty means absent."""
    if config.value_trim:
        expr = f"trim({expr})"
    if config.value_case == "lower":
        expr = f"lower({expr})"
    return f"nullif({expr}, '')"


def tag_fragments(config: AllocationConfig) -> tuple[dict[str, str], dict[str, Any]]:
    """``tag_<dimension>``: the normalized value of the first tag key present, in precedence order."""
    fragments, params = {}, {}
    for dim in config.dimensions:
        parts = []
        for i, key in enumerate(dim.tag_keys):
            name = f"tagkey_{dim.name}_{i}"
            params[name] = key
            parts.append(normalized_value_sql(config, f"tags[${name}]"))
        fragments[f"tag_{dim.name}"] = parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    return fragments, params


def match_sql(config: AllocationConfig, match: Match, prefix: str) -> tuple[str, dict[str, Any]]:
    """A boolean SQL condition for ``match`` over line item columns, with its parameters named ``prefix_*``."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    for key, column in _LIST_COLUMNS.items():
        values = getattr(match, key)
        if values:
            name = f"{prefix}_{key}"
            params[name] = list(values)
            conds.append(f"list_contains(CAST(${name} AS VARCHAR[]), {column})")
    for key, column in _REGEX_COLUMNS.items():
        pattern = getattr(match, key)
        if pattern is not None:
            name = f"{prefix}_{key}"
            params[name] = pattern
            conds.append(f"regexp_matches(coalesce({column}, ''), ${name})")
    for i, (key, value) in enumerate(match.tags):
        name = f"{prefix}_tag_{i}"
        params[f"{name}_value"] = value
        if key in DIMENSIONS:
            # An owner dimension's tag is read through its keys in precedence order (team, owner-team, ...).
            conds.append(f"tag_{key} = ${name}_value")
        else:
            params[f"{name}_key"] = key
            conds.append(f"{normalized_value_sql(config, f'tags[${name}_key]')} = ${name}_value")
    for i, (key, value) in enumerate(match.cost_category):
        name = f"{prefix}_cc_{i}"
        params[f"{name}_key"], params[f"{name}_value"] = key, value
        conds.append(f"cost_category[${name}_key] = ${name}_value")
    return " AND ".join(conds), params


def rule_case(config: AllocationConfig) -> tuple[str, dict[str, Any]]:
    """``rule_order`` of the first matching rule, NULL when none matches."""
    if not config.rules:
        return "CAST(NULL AS INTEGER)", {}
    whens, params = [], {}
    for rule in config.rules:
        cond, p = match_sql(config, rule.match, f"rule_{rule.order}")
        params.update(p)
        if not rule.override_tags:
            cond = f"tag_team IS NULL AND {cond}"
        whens.append(f"WHEN {cond} THEN {rule.order}")
    return "CASE\n            " + "\n            ".join(whens) + "\n        END", params


def usage_driver_fragments(config: AllocationConfig) -> tuple[dict[str, str], dict[str, Any]]:
    """Per-cell sums of usage_amount for pools split by a CUR usage measure, and their per-team totals."""
    sums, selects, params = [], [], {}
    usage_pools = [p for p in config.pools if p.driver_usage is not None]
    for i, pool in enumerate(usage_pools):
        assert pool.driver_usage is not None
        cond, p = match_sql(config, pool.driver_usage, f"usage_{i}")
        params.update(p)
        params[f"usage_{i}_pool"] = pool.name
        # Usage amounts are DOUBLE: summed as DECIMAL so that the total does not depend on summation order.
        sums.append(f",\n        sum(CAST(usage_amount AS DECIMAL(38,6))) FILTER (WHERE {cond}) AS usage_driver_{i}")
        selects.append(
            f"SELECT $usage_{i}_pool AS pool, usage_date, team, CAST(sum(usage_driver_{i}) AS DECIMAL(38,6)) AS value\n"
            "    FROM cells WHERE allocation_method IN ('tag', 'account', 'rule') GROUP BY ALL"
        )
    empty = (
        "SELECT CAST(NULL AS VARCHAR) AS pool, CAST(NULL AS DATE) AS usage_date, CAST(NULL AS VARCHAR) AS team,"
        " CAST(NULL AS DECIMAL(38,6)) AS value WHERE false"
    )
    return {"usage_driver_sums": "".join(sums), "usage_drivers": "\n    UNION ALL ".join(selects) or empty}, params


def config_params(config: AllocationConfig) -> dict[str, Any]:
    """The config's tables as lists of structs (cast to fixed types in the SQL)."""
    params: dict[str, Any] = {}
    for dim in config.dimensions:
        rows = [{"match_value": config.normalize_value(v), "value": v} for v in dim.values]
        rows += [{"match_value": alias, "value": value} for alias, value in dim.aliases]
        params[f"values_{dim.name}"] = rows
    params["teams"] = [{"team": t.name, "product": t.product, "cost_center": t.cost_center} for t in config.teams]
    params["accounts"] = [
        {
            "account_id": a.account_id,
            "team": a.owner.team,
            "product": a.owner.product,
            "environment": a.owner.environment,
            "cost_center": a.owner.cost_center,
        }
        for a in config.accounts
    ]
    params["rules"] = [
        {
            "rule_order": r.order,
            "rule_name": r.name,
            "pool": r.pool,
            "team": r.owner.team if r.owner else None,
            "product": r.owner.product if r.owner else None,
            "environment": r.owner.environment if r.owner else None,
            "cost_center": r.owner.cost_center if r.owner else None,
        }
        for r in config.rules
    ]
    params["pools"] = [
        {
            "pool": p.name,
            "method": p.method,
            "driver": _driver_label(p.method, p.driver_metric),
            "driver_metric": p.driver_metric,
            "on_zero": p.on_zero,
        }
        for p in config.pools
    ]
    weights = {p.name: dict(p.weights) for p in config.pools}
    params["recipients"] = [
        {"pool": p.name, "team": team, "weight": weights[p.name].get(team)} for p in config.pools for team in p.recipients
    ]
    return params


def _driver_label(method: str, metric: str | None) -> str:
    """What shared_cost_split.driver_value measures for a pool."""
    if method == "driver":
        return metric or "usage_amount"
    return {"proportional": "direct_cost", "even": "even", "weights": "weight"}[method]
