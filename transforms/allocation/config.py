"""The allocation configuration: owners, tag normalization, account owners, rules and shared-cost pools.

One YAML file (config/allocation.yaml for the sample organization) says who owns what. It is
validated completely before any SQL runs, and every mistake is reported as
``file:line:column: key.path: what is wrong`` (line numbers from the YAML node marks), because a
misspelled team or an invalid regular expression found after an hour of DuckDB work is found too late.

Config values (team names, patterns, account ids) never become SQL text: the SQL binds them as
parameters (see transforms.allocation.sqltext).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
import yaml

from transforms.tags import normalize_key

# The owner dimensions are fixed: they are columns of the curated tables.
DIMENSIONS: tuple[str, ...] = ("team", "product", "environment", "cost_center")
METHODS: tuple[str, ...] = ("proportional", "even", "weights", "driver")
BUSINESS_METRICS: tuple[str, ...] = ("revenue", "orders", "active_users", "requests")
ON_ZERO: tuple[str, ...] = ("even", "unallocated")
LIST_MATCH_KEYS: tuple[str, ...] = ("service", "account", "charge_category", "line_item_type")
REGEX_MATCH_KEYS: tuple[str, ...] = ("usage_type", "operation", "resource_id")
MAP_MATCH_KEYS: tuple[str, ...] = ("tags", "cost_category")
# Fixed weights are bound as integers in millionths: exact, and small enough for HUGEINT products.
WEIGHT_SCALE = 10**6

_ACCOUNT_ID = re.compile(r"^\d{12}$")


class ConfigError(ValueError):
    """An invalid allocation configuration; the message names the file, line, column and key."""


@dataclass(frozen=True)
class Dimension:
    """An owner dimension: which tag keys carry it (in precedence order) and its allowed values."""

    name: str
    tag_keys: tuple[str, ...]
    values: tuple[str, ...]
    # (normalized alias, canonical value): 'production' -> 'prod'.
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Team:
    """A team (the owner) with the product and cost center its cost defaults to."""

    name: str
    product: str
    cost_center: str


@dataclass(frozen=True)
class Owner:
    """Owner dimensions a rule or an account assigns; None leaves a dimension to tags or team defaults."""

    team: str | None = None
    product: str | None = None
    environment: str | None = None
    cost_center: str | None = None


@dataclass(frozen=True)
class AccountOwner:
    account_id: str
    owner: Owner


@dataclass(frozen=True)
class Match:
    """Conditions on a line item; all given conditions must hold (an empty tuple or None means any).

    Lists match exactly; usage_type, operation and resource_id are RE2 patterns that match anywhere
    in the value (anchor with ^ and $); tags and cost_category compare normalized values.
    """

    service: tuple[str, ...] = ()
    account: tuple[str, ...] = ()
    charge_category: tuple[str, ...] = ()
    line_item_type: tuple[str, ...] = ()
    usage_type: str | None = None
    operation: str | None = None
    resource_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    cost_category: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rule:
    """An ordered rule: the first matching rule gives a line item its owner or its shared pool."""

    order: int
    name: str
    match: Match
    owner: Owner | None
    pool: str | None
    # True: the rule applies even when the line item carries a team tag (pools default to True).
    override_tags: bool
    line: int


@dataclass(frozen=True)
class Pool:
    """A shared-cost pool: its recipients and how its cost is split among them each day."""

    name: str
    method: str
    recipients: tuple[str, ...]
    # (team, weight in millionths) for method 'weights'.
    weights: tuple[tuple[str, int], ...] = ()
    # Business metric for method 'driver' (business_metrics_daily column), or None.
    driver_metric: str | None = None
    # CUR usage measure for method 'driver': usage_amount of the recipients' own line items matching this.
    driver_usage: Match | None = None
    # When every recipient's driver is zero on a day: split evenly, or leave the day's pool cost unallocated.
    on_zero: str = "even"
    description: str = ""


@dataclass(frozen=True)
class AllocationConfig:
    path: str
    dimensions: tuple[Dimension, ...]
    teams: tuple[Team, ...]
    required_tags: tuple[str, ...]
    accounts: tuple[AccountOwner, ...]
    rules: tuple[Rule, ...]
    pools: tuple[Pool, ...]
    value_trim: bool = True
    value_case: str = "lower"
    coverage_target: Decimal = Decimal("0.9")
    top_unallocated: int = 25
    taggable_charge_categories: tuple[str, ...] = ("Usage",)
    taggable_requires_resource_id: bool = True
    max_tag_key_distance: int = 2

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)

    @property
    def team_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.teams)

    def pool(self, name: str) -> Pool:
        return next(p for p in self.pools if p.name == name)

    def normalize_value(self, value: str) -> str:
        """A tag value as the SQL compares it (trim and case per the config's ``tag_values``)."""
        if self.value_trim:
            value = value.strip()
        return value.lower() if self.value_case == "lower" else value


# --------------------------------------------------------------------------------------------
# YAML walking with positions


class _Node:
    """A YAML node with its key path, so every error can name file, line, column and key."""

    def __init__(
        self, node: yaml.Node, path: str, file: str, loader: yaml.SafeLoader, key: yaml.Node | None = None
    ):
        self.node, self.path, self.file, self.loader, self.key = node, path, file, loader, key

    @property
    def _mark(self) -> yaml.Mark:
        # A block mapping or list starts on the line after its key: point at the key, where people look.
        if self.key is not None and isinstance(self.node, (yaml.MappingNode, yaml.SequenceNode)):
            return self.key.start_mark
        return self.node.start_mark

    @property
    def line(self) -> int:
        return self._mark.line + 1

    def error(self, message: str) -> ConfigError:
        where = f"{self.path}: " if self.path else ""
        return ConfigError(f"{self.file}:{self.line}:{self._mark.column + 1}: {where}{message}")

    def _kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        return f"{self._scalar_type()} {self.node.value!r}"

    def _scalar_type(self) -> str:
        return {
            "tag:yaml.org,2002:str": "string",
            "tag:yaml.org,2002:int": "integer",
            "tag:yaml.org,2002:float": "number",
            "tag:yaml.org,2002:bool": "boolean",
            "tag:yaml.org,2002:null": "null",
        }.get(self.node.tag, self.node.tag)

    def child(self, node: yaml.Node, key: str | int, key_node: yaml.Node | None = None) -> _Node:
        if isinstance(key, int):
            path = f"{self.path}[{key}]"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return _Node(node, path, self.file, self.loader, key_node)

    def mapping(self, allowed: tuple[str, ...] | None = None, required: tuple[str, ...] = ()) -> dict[str, _Node]:
        """The mapping's entries; unknown keys (when ``allowed`` is given), missing and duplicate keys are errors."""
        if not isinstance(self.node, yaml.MappingNode):
            raise self.error(f"expected a mapping, got {self._kind()}")
        out: dict[str, _Node] = {}
        for key_node, value_node in self.node.value:
            key = _Node(key_node, self.path, self.file, self.loader)
            if not isinstance(key_node, yaml.ScalarNode):
                raise key.error(f"keys must be plain values, got {key._kind()}")
            name = key_node.value
            if name in out:
                raise key.error(f"duplicate key {name!r} (first at line {out[name].line})")
            if allowed is not None and name not in allowed:
                raise key.child(key_node, name).error(f"unknown key {name!r}; expected one of: {', '.join(allowed)}")
            out[name] = self.child(value_node, name, key_node)
        for name in required:
            if name not in out:
                raise self.error(f"missing required key {name!r}")
        return out

    def seq(self) -> list[_Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.error(f"expected a list, got {self._kind()}")
        return [self.child(n, i) for i, n in enumerate(self.node.value)]

    def string(self) -> str:
        """A non-empty string; YAML's yes/no/null/numbers are refused so that 'no' never becomes False."""
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:str":
            raise self.error(f"expected a string, got {self._kind()} (quote it if it is meant as text)")
        value = self.node.value
        if not value.strip():
            raise self.error("must not be empty")
        return value

    def text(self) -> str:
        """Any scalar as the text written in the file (tag values such as ``true`` or ``2024``)."""
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag == "tag:yaml.org,2002:null":
            raise self.error(f"expected a value, got {self._kind()}")
        return self.node.value

    def strings(self) -> tuple[str, ...]:
        """A list of strings, or one string standing for a list of one."""
        if isinstance(self.node, yaml.ScalarNode):
            return (self.string(),)
        items: list[str] = []
        for n in self.seq():
            item = n.string()
            if item in items:
                raise n.error(f"duplicate value {item!r}")
            items.append(item)
        return tuple(items)

    def boolean(self) -> bool:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:bool":
            raise self.error(f"expected true or false, got {self._kind()}")
        return bool(self.loader.construct_object(self.node))

    def decimal(self) -> Decimal:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag not in (
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        ):
            raise self.error(f"expected a number, got {self._kind()}")
        try:
            value = Decimal(self.node.value.replace("_", ""))
        except InvalidOperation:
            raise self.error(f"expected a number, got {self.node.value!r}") from None
        if not value.is_finite():
            raise self.error(f"expected a finite number, got {self.node.value!r}")
        return value

    def integer(self) -> int:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != "tag:yaml.org,2002:int":
            raise self.error(f"expected an integer, got {self._kind()}")
        return int(self.loader.construct_object(self.node))

    def choice(self, options: tuple[str, ...]) -> str:
        value = self.string()
        if value not in options:
            raise self.error(f"{value!r} is not one of: {', '.join(options)}")
        return value


# --------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | Path) -> AllocationConfig:
    """Read and validate an allocation config; raise ConfigError naming file, line, column and key."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read allocation config: {exc.strerror or exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        root_node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    if root_node is None:
        raise ConfigError(f"{file}:1:1: the allocation config is empty")
    builder = _Builder(file, _Node(root_node, "", file, loader))
    try:
        return builder.build()
    finally:
        builder.close()


class _Builder:
    """Validates the document section by section; later sections check names defined by earlier ones."""

    def __init__(self, file: str, root: _Node):
        self.file, self.root = file, root
        self.trim, self.case = True, "lower"  # tag value normalization, read first
        self.dims: dict[str, Dimension] = {}  # set once dimensions and teams are read
        self._regex_con: duckdb.DuckDBPyConnection | None = None

    def close(self) -> None:
        if self._regex_con is not None:
            self._regex_con.close()

    def build(self) -> AllocationConfig:
        top = self.root.mapping(
            allowed=(
                "version", "tag_values", "dimensions", "teams", "required_tags", "accounts",
                "rules", "pools", "coverage", "tag_compliance",
            ),
            required=("version", "dimensions", "teams", "required_tags"),
        )
        if top["version"].integer() != 1:
            raise top["version"].error("only version 1 is supported")
        trim, case = self._tag_values(top.get("tag_values"))
        self.trim, self.case = trim, case
        teams_node = top["teams"]
        dims_raw = top["dimensions"].mapping(allowed=DIMENSIONS, required=DIMENSIONS)
        team_entries = teams_node.mapping()
        if not team_entries:
            raise teams_node.error("at least one team is required")
        dims = {name: self._dimension(name, dims_raw[name], team_entries) for name in DIMENSIONS}
        teams = tuple(self._team(name, node, dims) for name, node in team_entries.items())
        self.dims = dims
        required_node = top["required_tags"]
        required = required_node.strings()
        for n, tag in zip(_items(required_node), required):
            if tag not in DIMENSIONS:
                raise n.error(f"required tag {tag!r} is not an owner dimension; expected one of: {', '.join(DIMENSIONS)}")
        accounts = self._accounts(top.get("accounts"))
        pool_names = tuple(top["pools"].mapping().keys()) if "pools" in top else ()
        rules = self._rules(top.get("rules"), pool_names)
        pools = self._pools(top.get("pools"), rules)
        coverage = top["coverage"].mapping(allowed=("target", "top_unallocated")) if "coverage" in top else {}
        target = coverage["target"].decimal() if "target" in coverage else Decimal("0.9")
        if not Decimal(0) <= target <= Decimal(1):
            raise coverage["target"].error(f"coverage target must be between 0 and 1, got {target}")
        top_n = coverage["top_unallocated"].integer() if "top_unallocated" in coverage else 25
        if top_n < 1:
            raise coverage["top_unallocated"].error("must be at least 1")
        tc = (
            top["tag_compliance"].mapping(allowed=("taggable_charge_categories", "require_resource_id", "max_key_distance"))
            if "tag_compliance" in top
            else {}
        )
        distance = tc["max_key_distance"].integer() if "max_key_distance" in tc else 2
        if not 0 <= distance <= 5:
            raise tc["max_key_distance"].error("must be between 0 and 5")
        return AllocationConfig(
            path=self.file,
            dimensions=tuple(dims.values()),
            teams=teams,
            required_tags=required,
            accounts=accounts,
            rules=rules,
            pools=pools,
            value_trim=trim,
            value_case=case,
            coverage_target=target,
            top_unallocated=top_n,
            taggable_charge_categories=(
                tc["taggable_charge_categories"].strings() if "taggable_charge_categories" in tc else ("Usage",)
            ),
            taggable_requires_resource_id=tc["require_resource_id"].boolean() if "require_resource_id" in tc else True,
            max_tag_key_distance=distance,
        )

    def _norm(self, value: str) -> str:
        value = value.strip() if self.trim else value
        return value.lower() if self.case == "lower" else value

    def _tag_values(self, node: _Node | None) -> tuple[bool, str]:
        if node is None:
            return True, "lower"
        entries = node.mapping(allowed=("trim", "case"))
        trim = entries["trim"].boolean() if "trim" in entries else True
        case = entries["case"].choice(("lower", "preserve")) if "case" in entries else "lower"
        return trim, case

    def _dimension(self, name: str, node: _Node, teams: dict[str, _Node]) -> Dimension:
        allowed = ("tag_keys", "aliases") if name == "team" else ("tag_keys", "values", "aliases")
        entries = node.mapping(allowed=allowed, required=("tag_keys",))
        keys_node = entries["tag_keys"]
        # Keys as cost_line_items carries them (transforms.tags): 'user_Team' in the file means 'team'.
        keys = tuple(normalize_key(k) for k in keys_node.strings())
        if not all(keys):
            raise keys_node.error(f"a tag key is empty after normalization: {list(keys_node.strings())}")
        if len(set(keys)) != len(keys):
            raise keys_node.error(f"tag keys repeat after normalization (lowercase, user_ prefix removed): {list(keys)}")
        if name == "team":
            values = tuple(teams.keys())
        elif "values" in entries:
            values = entries["values"].strings()
        elif name in ("product", "cost_center"):
            values = tuple(
                dict.fromkeys(
                    t.mapping(allowed=("product", "cost_center"), required=("product", "cost_center"))[name].string()
                    for t in teams.values()
                )
            )
        else:
            raise node.error("missing required key 'values'")
        self._unique_normalized(entries.get("values") or node, values, "value")
        aliases: list[tuple[str, str]] = []
        if "aliases" in entries:
            normalized = {self._norm(v) for v in values}
            seen: dict[str, str] = {}
            for alias, target in entries["aliases"].mapping().items():
                canonical = target.string()
                if canonical not in values:
                    raise target.error(f"alias target {canonical!r} is not a configured {name}; expected one of: {', '.join(values)}")
                key = self._norm(alias)
                if key in normalized:
                    raise target.error(f"alias {alias!r} is already a configured {name} value")
                if key in seen:
                    raise target.error(f"aliases {seen[key]!r} and {alias!r} are the same after normalization (trim, {self.case})")
                seen[key] = alias
                aliases.append((key, canonical))
        return Dimension(name=name, tag_keys=keys, values=values, aliases=tuple(aliases))

    def _unique_normalized(self, node: _Node, values: tuple[str, ...], what: str) -> None:
        seen: dict[str, str] = {}
        for v in values:
            key = self._norm(v)
            if key in seen:
                raise node.error(f"{what}s {seen[key]!r} and {v!r} are the same after normalization (trim, {self.case})")
            seen[key] = v

    def _team(self, name: str, node: _Node, dims: dict[str, Dimension]) -> Team:
        entries = node.mapping(allowed=("product", "cost_center"), required=("product", "cost_center"))
        product = self._value(entries["product"], dims["product"])
        cost_center = self._value(entries["cost_center"], dims["cost_center"])
        return Team(name=name, product=product, cost_center=cost_center)

    def _value(self, node: _Node, dim: Dimension) -> str:
        value = node.string()
        if value not in dim.values:
            raise node.error(f"{value!r} is not a configured {dim.name}; expected one of: {', '.join(dim.values)}")
        return value

    def _owner(self, node: _Node, *, team_required: bool) -> Owner:
        entries = node.mapping(allowed=DIMENSIONS, required=("team",) if team_required else ())
        if not entries:
            raise node.error("an owner needs at least one of: " + ", ".join(DIMENSIONS))
        return Owner(**{name: self._value(entries[name], self.dims[name]) for name in entries})

    def _accounts(self, node: _Node | None) -> tuple[AccountOwner, ...]:
        if node is None:
            return ()
        entries = node.mapping()
        for key_node, _ in node.node.value:
            if key_node.tag != "tag:yaml.org,2002:str" or not _ACCOUNT_ID.match(key_node.value):
                raise node.child(key_node, str(key_node.value)).error(
                    f"account id {key_node.value!r} must be a quoted string of 12 digits (unquoted ids lose leading zeros)"
                )
        return tuple(
            AccountOwner(account_id=account_id, owner=self._owner(value, team_required=False))
            for account_id, value in entries.items()
        )

    def _regex(self, node: _Node) -> str:
        pattern = node.string()
        if self._regex_con is None:
            self._regex_con = duckdb.connect()
        try:
            # DuckDB (RE2) is the engine that runs the pattern, so it is the one that judges it.
            self._regex_con.execute("SELECT regexp_matches('', $p)", {"p": pattern})
        except duckdb.Error as exc:
            detail = str(exc).split("Error: ", 1)[-1]
            raise node.error(f"invalid regular expression {pattern!r}: {detail}") from None
        return pattern

    def _match(self, node: _Node, allowed: tuple[str, ...] | None = None) -> Match:
        keys = allowed or (LIST_MATCH_KEYS + REGEX_MATCH_KEYS + MAP_MATCH_KEYS)
        entries = node.mapping(allowed=keys)
        if not entries:
            raise node.error("a match needs at least one condition: " + ", ".join(keys))
        kwargs: dict[str, Any] = {}
        for key, value in entries.items():
            if key in LIST_MATCH_KEYS:
                items = value.strings()
                if key == "account":
                    for n, item in zip(_items(value), items):
                        if not _ACCOUNT_ID.match(item):
                            raise n.error(f"account id {item!r} must be 12 digits")
                kwargs[key] = items
            elif key in REGEX_MATCH_KEYS:
                kwargs[key] = self._regex(value)
            else:
                pairs = []
                for k, v in value.mapping().items():
                    if key == "tags":
                        pairs.append((normalize_key(k), self._norm(v.text())))
                    else:
                        pairs.append((k, v.text()))
                if not pairs:
                    raise value.error(f"{key} needs at least one key: value")
                kwargs[key] = tuple(pairs)
        return Match(**kwargs)

    def _rules(self, node: _Node | None, pool_names: tuple[str, ...]) -> tuple[Rule, ...]:
        if node is None:
            return ()
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for order, item in enumerate(node.seq()):
            entries = item.mapping(
                allowed=("name", "match", "owner", "pool", "override_tags"), required=("name", "match")
            )
            name = entries["name"].string()
            if name in names:
                raise entries["name"].error(f"duplicate rule name {name!r} (first at line {names[name]})")
            names[name] = item.line
            if ("owner" in entries) == ("pool" in entries):
                raise item.error(f"rule {name!r} needs exactly one of 'owner' or 'pool'")
            owner = self._owner(entries["owner"], team_required=True) if "owner" in entries else None
            pool = None
            if "pool" in entries:
                pool = entries["pool"].string()
                if pool not in pool_names:
                    known = ", ".join(pool_names) or "none defined"
                    raise entries["pool"].error(f"unknown pool {pool!r}; pools: {known}")
            override = entries["override_tags"].boolean() if "override_tags" in entries else pool is not None
            rules.append(
                Rule(
                    order=order + 1,
                    name=name,
                    match=self._match(entries["match"]),
                    owner=owner,
                    pool=pool,
                    override_tags=override,
                    line=item.line,
                )
            )
        return tuple(rules)

    def _pools(self, node: _Node | None, rules: tuple[Rule, ...]) -> tuple[Pool, ...]:
        if node is None:
            return ()
        teams = self.dims["team"].values
        pools = []
        for name, pool_node in node.mapping().items():
            entries = pool_node.mapping(
                allowed=("description", "method", "recipients", "exclude", "weights", "driver", "on_zero"),
                required=("method",),
            )
            method = entries["method"].choice(METHODS)
            extra = {"weights": "weights", "driver": "driver"}
            for key, needed_by in extra.items():
                if key in entries and method != needed_by:
                    raise entries[key].error(f"'{key}' is only for method '{needed_by}' (this pool's method is {method!r})")
            weights: tuple[tuple[str, int], ...] = ()
            if method == "weights":
                if "weights" not in entries:
                    raise pool_node.error("method 'weights' needs 'weights' (team: weight)")
                for key in ("recipients", "exclude"):
                    if key in entries:
                        raise entries[key].error("method 'weights' takes its recipients from 'weights'")
                weights = tuple(self._weight(team, w, teams) for team, w in entries["weights"].mapping().items())
                recipients = tuple(t for t, _ in weights)
            else:
                if "recipients" not in entries:
                    raise pool_node.error("missing required key 'recipients' (a list of teams, or 'all')")
                recipients = self._recipients(entries["recipients"], entries.get("exclude"), teams)
            metric, usage = None, None
            if method == "driver":
                if "driver" not in entries:
                    raise pool_node.error("method 'driver' needs 'driver': {metric: requests} or {usage: {...}}")
                driver = entries["driver"].mapping(allowed=("metric", "usage"))
                if len(driver) != 1:
                    raise entries["driver"].error("driver needs exactly one of 'metric' or 'usage'")
                if "metric" in driver:
                    metric = driver["metric"].choice(BUSINESS_METRICS)
                else:
                    usage = self._match(driver["usage"], allowed=LIST_MATCH_KEYS + REGEX_MATCH_KEYS)
            on_zero = entries["on_zero"].choice(ON_ZERO) if "on_zero" in entries else "even"
            if not any(r.pool == name for r in rules):
                raise pool_node.error(f"pool {name!r} is not used by any rule (add a rule with 'pool: {name}')")
            pools.append(
                Pool(
                    name=name,
                    method=method,
                    recipients=recipients,
                    weights=weights,
                    driver_metric=metric,
                    driver_usage=usage,
                    on_zero=on_zero,
                    description=entries["description"].string() if "description" in entries else "",
                )
            )
        return tuple(pools)

    def _weight(self, team: str, node: _Node, teams: tuple[str, ...]) -> tuple[str, int]:
        if team not in teams:
            raise node.error(f"{team!r} is not a configured team; expected one of: {', '.join(teams)}")
        weight = node.decimal()
        if weight < 0:
            raise node.error(f"weight must not be negative, got {weight}")
        scaled = weight * WEIGHT_SCALE
        if scaled != scaled.to_integral_value() or scaled > 10**15:
            raise node.error(f"weight {weight} needs at most 6 decimals and at most 9 integer digits")
        return team, int(scaled)

    def _recipients(self, node: _Node, exclude: _Node | None, teams: tuple[str, ...]) -> tuple[str, ...]:
        if isinstance(node.node, yaml.ScalarNode) and node.node.value == "all":
            excluded = exclude.strings() if exclude is not None else ()
            for item_node, item in zip(_items(exclude), excluded):
                if item not in teams:
                    raise item_node.error(f"{item!r} is not a configured team; expected one of: {', '.join(teams)}")
            return tuple(t for t in teams if t not in excluded)
        if exclude is not None:
            raise exclude.error("'exclude' only goes with 'recipients: all'")
        if isinstance(node.node, yaml.SequenceNode) and not node.node.value:
            # An empty list is allowed (a pool being set up): its cost stays unallocated, with a reason.
            return ()
        items = node.strings()
        for item_node, item in zip(_items(node), items):
            if item not in teams:
                raise item_node.error(f"{item!r} is not a configured team; expected one of: {', '.join(teams)}")
        return items


def _items(node: _Node | None) -> list[_Node]:
    """The nodes of a list, or the node itself for a single scalar written in place of a list."""
    if node is None:
        return []
    return node.seq() if isinstance(node.node, yaml.SequenceNode) else [node]

