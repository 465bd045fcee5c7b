-- Owner, allocation method and shared pool of every row of `keyed`: a CTE the caller defines before
-- this text (transforms.allocation.lineitems), holding usage_account_id, the line item columns rules
-- read and the raw tag / cost category values of the decision key (raw_tag_<i>, raw_cc_<i>; see
-- fragments.decision_key), either per line item or per distinct key with summed costs. Every column
-- of `keyed` passes through. Nothing is dropped or repeated: one output row per row of `keyed`.
-- allocation_method in (tag, account, rule, shared, unallocated). Order of decisions:
--   1. the first matching rule (rule_order; rules with override_tags false skip team-tagged items):
--      a pool rule makes the item 'shared' (owner chosen later, by the pool's split), an owner rule 'rule';
--   2. a team tag whose value is a configured team (or an alias of one): 'tag';
--      a team tag with any other value: 'unallocated', reason 'unknown_team_tag' (never a new owner);
--   3. the account owner: 'account';
--   4. 'unallocated', reason 'no_owner'.
-- Secondary dimensions: the rule's own value (method rule), else a valid tag value, else the account's
-- value (environment always; product and cost center for method account), else the team's default.
-- Markers (filled by transforms.allocation.sqltext.fill): tag_<dim>, the normalized value of the
-- first tag key present (fragments.tag_fragments); rule_order, the rule CASE (fragments.rule_case).
-- Parameters: $values_<dim>, $team_products, $team_cost_centers, $accounts, $rules, and the fragments' own.
normalized AS (
    SELECT
        *,
        /*@tag_team*/ AS tag_team,
        /*@tag_product*/ AS tag_product,
        /*@tag_environment*/ AS tag_environment,
        /*@tag_cost_center*/ AS tag_cost_center
    FROM keyed
),
matched AS (
    SELECT
        *,
        /*@rule_order*/ AS rule_order
    FROM normalized
),
-- The config's tables that decide method and team are joined. Product, environment and cost
-- center values and the teams' defaults are looked up in constant maps instead (map_from_entries
-- of the bound list; a repeated key fails loudly): a reader that does not use those columns (the
-- checks, anomalies' resources) does not pay for them, where DuckDB 2.0 keeps all but one of a
-- chain of left joins whose columns nobody reads.
team_values AS (
    SELECT unnest(CAST($values_team AS STRUCT(match_value VARCHAR, value VARCHAR)[]), recursive := true)
),
accounts AS (
    SELECT unnest(
        CAST($accounts AS STRUCT(account_id VARCHAR, team VARCHAR, product VARCHAR, environment VARCHAR, cost_center VARCHAR)[]),
        recursive := true
    )
),
rules AS (
    SELECT unnest(
        CAST($rules AS STRUCT(
            rule_order INTEGER, rule_name VARCHAR, pool VARCHAR,
            team VARCHAR, product VARCHAR, environment VARCHAR, cost_center VARCHAR
        )[]),
        recursive := true
    )
),
decided AS (
    SELECT
        m.*,
        r.rule_name,
        r.pool,
        CASE
            WHEN r.pool IS NOT NULL THEN 'shared'
            WHEN r.team IS NOT NULL THEN 'rule'
            WHEN m.tag_team IS NOT NULL AND tv.value IS NOT NULL THEN 'tag'
            WHEN m.tag_team IS NOT NULL THEN 'unallocated'
            WHEN a.team IS NOT NULL THEN 'account'
            ELSE 'unallocated'
        END AS allocation_method,
        r.team AS rule_team, r.product AS rule_product, r.environment AS rule_environment, r.cost_center AS rule_cost_center,
        tv.value AS tag_team_value,
        a.team AS account_team, a.product AS account_product, a.environment AS account_environment,
        a.cost_center AS account_cost_center
    FROM matched AS m
    LEFT JOIN rules AS r ON r.rule_order = m.rule_order
    LEFT JOIN team_values AS tv ON tv.match_value = m.tag_team
    LEFT JOIN accounts AS a ON a.account_id = m.usage_account_id
),
owned AS (
    SELECT
        d.*,
        CASE d.allocation_method
            WHEN 'rule' THEN d.rule_team
            WHEN 'tag' THEN d.tag_team_value
            WHEN 'account' THEN d.account_team
        END AS team
    FROM decided AS d
)
SELECT
    o.* EXCLUDE (
        rule_order, rule_team, rule_product, rule_environment, rule_cost_center,
        tag_team_value, account_team, account_product, account_environment, account_cost_center
    ),
    CASE WHEN o.allocation_method <> 'shared' THEN coalesce(
        CASE WHEN o.allocation_method = 'rule' THEN o.rule_product END,
        map_extract_value(map_from_entries(CAST($values_product AS STRUCT(match_value VARCHAR, value VARCHAR)[])), o.tag_product),
        CASE WHEN o.allocation_method = 'account' THEN o.account_product END,
        map_extract_value(map_from_entries(CAST($team_products AS STRUCT(match_value VARCHAR, value VARCHAR)[])), o.team)
    ) END AS product,
    CASE WHEN o.allocation_method <> 'shared' THEN coalesce(
        CASE WHEN o.allocation_method = 'rule' THEN o.rule_environment END,
        map_extract_value(map_from_entries(CAST($values_environment AS STRUCT(match_value VARCHAR, value VARCHAR)[])), o.tag_environment),
        o.account_environment
    ) END AS environment,
    CASE WHEN o.allocation_method <> 'shared' THEN coalesce(
        CASE WHEN o.allocation_method = 'rule' THEN o.rule_cost_center END,
        map_extract_value(map_from_entries(CAST($values_cost_center AS STRUCT(match_value VARCHAR, value VARCHAR)[])), o.tag_cost_center),
        CASE WHEN o.allocation_method = 'account' THEN o.account_cost_center END,
        map_extract_value(map_from_entries(CAST($team_cost_centers AS STRUCT(match_value VARCHAR, value VARCHAR)[])), o.team)
    ) END AS cost_center,
    CASE
        WHEN o.allocation_method <> 'unallocated' THEN NULL
        WHEN o.tag_team IS NOT NULL THEN 'unknown_team_tag'
        ELSE 'no_owner'
    END AS allocation_reason
FROM owned AS o
