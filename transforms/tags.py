"""Resource tag normalization: one spelling per tag key, whatever the source format.

The same key reaches us as ``user_team`` (CUR 2.0 map), ``resource_tags_user_team`` (legacy
Athena column) or ``resourceTags/user:Team`` (legacy CSV header). The readers pass the raw key
(``user_team``, ``user:Team``) and the ``tags`` column of ``cost_line_items`` holds it normalized:

1. the key is trimmed (spaces, tabs, CR, LF) and lowercased;
2. a ``user_`` or ``user:`` prefix (user-defined tags) is removed: ``user_Team`` -> ``team``;
3. an ``aws:`` prefix (AWS-generated tags) becomes ``aws_``; ``aws_`` stays:
   ``aws:createdBy`` -> ``aws_createdby``;
4. every other character is kept: ``owner-team`` stays ``owner-team`` (aliasing different keys
   to one meaning is the allocation config's job, not ingestion's);
5. entries whose key ends up empty, or whose value is NULL or '', are dropped;
6. when several raw keys of one row normalize to the same key (``user_Team`` and
   ``user_team``), the first non-empty value in sorted raw-key order wins (plain code-point
   order, so ``user_Team`` sorts before ``user_team``).

Where the rules run: ``transforms.readers.staging`` lists a month's distinct raw tag keys in one
cheap pass (CUR 2.0 maps) or reads them from the schema (legacy CUR: one column per tag), applies
``normalize_key`` to each key once, and builds the normalized map with one bound-key lookup per
key, merging colliding keys in sorted raw-key order: the same result as this module, row by row,
without per-row string work (the tests check both agree on every case).
"""

from __future__ import annotations

from collections.abc import Mapping

_WHITESPACE = " \t\n\r"


def normalize_key(raw: str) -> str:
    """Normalized tag key ('' when nothing is left, e.g. for the raw key 'user_')."""
    key = raw.strip(_WHITESPACE).lower()
    if key.startswith(("user_", "user:")):
        return key[5:]
    if key.startswith("aws:"):
        return "aws_" + key[4:]
    return key


def normalize_tags(raw: Mapping[str, str | None] | None) -> dict[str, str]:
    """Normalized tags of one row: see the module docstring for the rules."""
    out: dict[str, str] = {}
    for raw_key in sorted(raw or {}):
        value = raw[raw_key]
        key = normalize_key(raw_key)
        if key and value and key not in out:
            out[key] = value
    return out
