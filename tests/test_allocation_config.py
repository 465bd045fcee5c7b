"""The allocation config: the sample loads, and every mistake names the file, line and key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from allocation_builders import BASE_CONFIG
from transforms.allocation import ConfigError, load_config
from transforms.generate import org

REPO = Path(__file__).resolve().parents[1]

VALID_TAIL = """\
rules:
  - name: nat
    match: {usage_type: 'NatGateway', account: ['210000000001']}
    pool: net
  - name: s3
    match: {service: [AmazonS3]}
    owner: {team: alpha}
pools:
  net:
    recipients: all
    method: proportional
"""


def test_sample_config_matches_the_sample_organization():
    config = load_config(REPO / "config" / "allocation.yaml")
    assert config.team_names == org.TEAM_NAMES
    assert {(t.name, t.product, t.cost_center) for t in config.teams} == {
        (t.name, t.product, t.cost_center) for t in org.TEAMS
    }
    assert config.dimension("environment").values == org.ENVIRONMENTS
    assert set(config.dimension("product").values) == set(org.PRODUCTS)
    owners = {a.account_id: a.owner.team for a in config.accounts if a.owner.team}
    assert owners == {a.account_id: a.owner for a in org.ACCOUNTS if a.owner}
    # The sample's team key variants (user_team, user_Team, user_owner-team) arrive normalized.
    assert {k.lower().removeprefix("user_") for k in org.TEAM_TAG_KEYS} <= set(config.dimension("team").tag_keys)
    assert config.required_tags == ("team", "product", "environment")
    assert config.coverage_target == Decimal("0.9")
    methods = {p.name: (p.method, p.driver_metric) for p in config.pools}
    assert methods["network"] == ("proportional", None)
    assert methods["shared-eks"] == ("driver", "requests")
    assert methods["support"] == methods["tax"] == ("proportional", None)


def test_keys_and_values_are_normalized(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(BASE_CONFIG.replace("[team, owner-team, owner]", "[' User_Team', Owner-Team]") + VALID_TAIL)
    config = load_config(path)
    assert config.dimension("team").tag_keys == ("team", "owner-team")
    assert config.normalize_value("  Production ") == "production"
    assert config.dimension("environment").aliases == (("production", "prod"),)
    assert config.rules[0].override_tags is True  # pool rules override tags unless told otherwise
    assert config.rules[1].override_tags is False  # owner rules only apply to untagged line items
    assert config.pool("net").recipients == ("alpha", "beta", "gamma", "delta")


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing ``needle``, found by plain text search."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


BAD = [
    # (description, replace this, with this, line to expect (text on it), key path, message part)
    ("unknown team in a rule owner", "owner: {team: alpha}", "owner: {team: alpah}", "owner: {team: alpah}",
     "rules[1].owner.team", "'alpah' is not a configured team"),
    ("invalid regular expression", "usage_type: 'NatGateway'", "usage_type: 'Nat(Gateway'", "Nat(Gateway",
     "rules[0].match.usage_type", "invalid regular expression 'Nat(Gateway'"),
    ("misspelled pool key", "    recipients: all", "    recipient: all", "recipient: all",
     "pools.net.recipient", "unknown key 'recipient'"),
    ("unknown method", "method: proportional", "method: proportionl", "method: proportionl",
     "pools.net.method", "'proportionl' is not one of: proportional, even, weights, driver"),
    ("rule to an undefined pool", "    pool: net", "    pool: nett", "pool: nett",
     "rules[0].pool", "unknown pool 'nett'"),
    ("unquoted account id", '"210000000002": {team: beta}', "210000000002: {team: beta}", "210000000002: {team",
     "accounts.210000000002", "must be a quoted string of 12 digits"),
    ("YAML boolean where a value is meant", "values: [prod, dev]", "values: [prod, no]", "values: [prod, no]",
     "dimensions.environment.values[1]", "expected a string, got boolean 'no'"),
    ("weights with recipients", "    recipients: all\n    method: proportional",
     "    recipients: all\n    method: weights\n    weights: {alpha: 1}", "recipients: all",
     "pools.net.recipients", "method 'weights' takes its recipients from 'weights'"),
    ("negative weight", "    recipients: all\n    method: proportional", "    method: weights\n    weights: {alpha: -1}",
     "weights: {alpha: -1}", "pools.net.weights.alpha", "weight must not be negative"),
    ("rule with owner and pool", "    pool: net", "    pool: net\n    owner: {team: alpha}", "- name: nat",
     "rules[0]", "needs exactly one of 'owner' or 'pool'"),
    ("product of a team not configured", "gamma: {product: p2", "gamma: {product: p3", "gamma: {product: p3",
     "teams.gamma.product", "'p3' is not a configured product"),
    ("alias to an unknown value", "{production: prod}", "{production: prd}", "{production: prd}",
     "dimensions.environment.aliases.production", "alias target 'prd' is not a configured environment"),
    ("required tag that is not a dimension", "required_tags: [team, product, environment]",
     "required_tags: [team, application]", "required_tags", "required_tags[1]", "'application' is not an owner dimension"),
    ("driver without its driver", "    method: proportional", "    method: driver", "net:",
     "pools.net", "method 'driver' needs 'driver'"),
    ("unknown business metric", "    method: proportional", "    method: driver\n    driver: {metric: clicks}",
     "driver: {metric: clicks}", "pools.net.driver.metric", "'clicks' is not one of: revenue, orders"),
]


@pytest.mark.parametrize(("what", "old", "new", "line_text", "key", "message"), BAD, ids=[b[0] for b in BAD])
def test_config_errors_name_file_line_and_key(tmp_path, what, old, new, line_text, key, message):
    text = BASE_CONFIG + VALID_TAIL
    assert old in text, what
    text = text.replace(old, new, 1)
    path = tmp_path / "allocation.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{_line_of(text, line_text)}:"), msg
    assert f": {key}: " in msg, msg
    assert message in msg, msg


def test_duplicate_key_names_both_lines(tmp_path):
    text = BASE_CONFIG + VALID_TAIL + "pools:\n  other: {recipients: all, method: even}\n"
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    first, second = _line_of(text, "pools:"), _line_of(text, "pools:", 2)
    assert str(err.value).startswith(f"{path}:{second}:")
    assert f"duplicate key 'pools' (first at line {first})" in str(err.value)


def test_unused_pool_is_an_error(tmp_path):
    text = BASE_CONFIG + VALID_TAIL + "  idle:\n    recipients: [alpha]\n    method: even\n"
    path = tmp_path / "idle.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{path}:{_line_of(text, 'idle:')}:\d+: pools.idle: pool 'idle' is not used"):
        load_config(path)


def test_yaml_syntax_error_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    text = BASE_CONFIG + "rules: [\n"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{path}:\d+:\d+: invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read allocation config"):
        load_config(tmp_path / "missing.yaml")


def test_missing_section_names_the_document(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("version: 1\ndimensions: {}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:1:1: missing required key 'teams'"):
        load_config(path)
