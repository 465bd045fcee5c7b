-- tag_compliance: the share of taggable cost (amortized) that carries every required tag with a
-- configured value, per account and service, for one billing period; one row per required tag and
-- one for all of them together (required_tag 'all_required').
-- Taggable: a charge category in $taggable_categories, not an offset ($offset_line_item_types), and,
-- when $require_resource_id, a resource id
-- (only resources can carry tags). A tag counts when one of its keys (precedence order) has a value
-- that is a configured value or alias after normalization; a present but unknown value is
-- 'invalid', an absent one 'missing'.
-- Markers: line_items; raw_tags, the owner tag keys' raw values (raw_tag_<i>, fragments.decision_key
-- with dimensions_only); tag_<dim>, their normalized values (fragments.tag_fragments, as in owners.sql).
-- Parameters: $billing_period, $values_<dim>, $required_tags, $taggable_categories, $offset_line_item_types,
-- $require_resource_id,
-- $tagkey_<i>.
WITH keyed AS (
    -- The only pass over the line items: taggable cost per account, service and raw owner tag values
    -- (a few thousand groups a month), so that tags are normalized and judged once per group.
    SELECT
        usage_account_id, service_code, /*@raw_tags*/,
        sum(amortized_cost) AS amortized_cost, count(*) AS line_items
    FROM /*@line_items*/
    WHERE billing_period = $billing_period
        AND list_contains(CAST($taggable_categories AS VARCHAR[]), charge_category)
        -- Offsets (discounts, credits, refunds, SP negation) charge for no resource, even with a resource
        -- id: out of the taggable cost, or an untagged discount lowers the base and the share passes 1.
        AND NOT list_contains(CAST($offset_line_item_types AS VARCHAR[]), line_item_type)
        -- A resource id other than blanks. Nothing left after trimming the left end is nothing left after
        -- trimming both (same blanks; every code point checked, DuckDB 2.0.1), and a scan filtered by
        -- ltrim() costs 0.05 CPU s per million line items, by nullif(trim(resource_id), '') 0.37.
        AND (NOT $require_resource_id OR ltrim(resource_id) <> '')
    GROUP BY ALL
),
li AS (
    SELECT
        usage_account_id, service_code, amortized_cost, line_items,
        /*@tag_team*/ AS tag_team,
        /*@tag_product*/ AS tag_product,
        /*@tag_environment*/ AS tag_environment,
        /*@tag_cost_center*/ AS tag_cost_center
    FROM keyed
),
statuses AS (
    -- Aggregated before anything else reads it: at most 3^4 status combinations per account and service.
    SELECT
        li.usage_account_id, li.service_code,
        CASE WHEN li.tag_team IS NULL THEN 'missing' WHEN tv.match_value IS NULL THEN 'invalid' ELSE 'valid' END AS team,
        CASE WHEN li.tag_product IS NULL THEN 'missing' WHEN pv.match_value IS NULL THEN 'invalid' ELSE 'valid' END
            AS product,
        CASE WHEN li.tag_environment IS NULL THEN 'missing' WHEN ev.match_value IS NULL THEN 'invalid' ELSE 'valid' END
            AS environment,
        CASE WHEN li.tag_cost_center IS NULL THEN 'missing' WHEN cv.match_value IS NULL THEN 'invalid' ELSE 'valid' END
            AS cost_center,
        sum(li.amortized_cost) AS amortized_cost,
        sum(li.line_items) AS line_items
    FROM li
    LEFT JOIN (SELECT unnest(CAST($values_team AS STRUCT(match_value VARCHAR, value VARCHAR)[]), recursive := true)) AS tv
        ON tv.match_value = li.tag_team
    LEFT JOIN (SELECT unnest(CAST($values_product AS STRUCT(match_value VARCHAR, value VARCHAR)[]), recursive := true)) AS pv
        ON pv.match_value = li.tag_product
    LEFT JOIN (SELECT unnest(CAST($values_environment AS STRUCT(match_value VARCHAR, value VARCHAR)[]), recursive := true)) AS ev
        ON ev.match_value = li.tag_environment
    LEFT JOIN (SELECT unnest(CAST($values_cost_center AS STRUCT(match_value VARCHAR, value VARCHAR)[]), recursive := true)) AS cv
        ON cv.match_value = li.tag_cost_center
    GROUP BY ALL
),
required AS (
    SELECT unnest(CAST($required_tags AS VARCHAR[])) AS required_tag
),
per_tag AS (
    SELECT s.usage_account_id, s.service_code, s.amortized_cost, s.line_items, r.required_tag,
        CASE r.required_tag
            WHEN 'team' THEN s.team WHEN 'product' THEN s.product
            WHEN 'environment' THEN s.environment ELSE s.cost_center
        END AS status
    FROM statuses AS s
    CROSS JOIN required AS r
    UNION ALL
    -- all_required: valid only if every required tag is; otherwise invalid if none is missing.
    SELECT s.usage_account_id, s.service_code, s.amortized_cost, s.line_items, 'all_required',
        CASE
            WHEN list_bool_and([
                    CASE WHEN list_contains(CAST($required_tags AS VARCHAR[]), 'team') THEN s.team = 'valid' ELSE true END,
                    CASE WHEN list_contains(CAST($required_tags AS VARCHAR[]), 'product') THEN s.product = 'valid' ELSE true END,
                    CASE WHEN list_contains(CAST($required_tags AS VARCHAR[]), 'environment') THEN s.environment = 'valid' ELSE true END,
                    CASE WHEN list_contains(CAST($required_tags AS VARCHAR[]), 'cost_center') THEN s.cost_center = 'valid' ELSE true END
                ]) THEN 'valid'
            WHEN list_bool_or([
                    list_contains(CAST($required_tags AS VARCHAR[]), 'team') AND s.team = 'missing',
                    list_contains(CAST($required_tags AS VARCHAR[]), 'product') AND s.product = 'missing',
                    list_contains(CAST($required_tags AS VARCHAR[]), 'environment') AND s.environment = 'missing',
                    list_contains(CAST($required_tags AS VARCHAR[]), 'cost_center') AND s.cost_center = 'missing'
                ]) THEN 'missing'
            ELSE 'invalid'
        END
    FROM statuses AS s
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    usage_account_id,
    service_code,
    required_tag,
    CAST(round(sum(amortized_cost), 2) AS DECIMAL(18,2)) AS taggable_cost,
    CAST(round(coalesce(sum(amortized_cost) FILTER (WHERE status = 'valid'), 0), 2) AS DECIMAL(18,2)) AS tagged_cost,
    CAST(round(coalesce(sum(amortized_cost) FILTER (WHERE status = 'invalid'), 0), 2) AS DECIMAL(18,2)) AS invalid_value_cost,
    CAST(round(coalesce(sum(amortized_cost) FILTER (WHERE status = 'missing'), 0), 2) AS DECIMAL(18,2)) AS missing_cost,
    CAST(sum(line_items) AS BIGINT) AS line_items,
    CASE WHEN sum(amortized_cost) <> 0 THEN
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE status = 'valid'), 0) AS DOUBLE) / CAST(sum(amortized_cost) AS DOUBLE)
    END AS compliance
FROM per_tag
GROUP BY ALL
ORDER BY usage_account_id, service_code, required_tag
