-- tag_key_variants: tag keys on taggable line items that look like a required tag's key but are not
-- one of its accepted keys (the tagging mistakes behind low compliance), with the cost behind each.
-- match_kind: 'case_or_whitespace' (equal once trimmed and lowercased), 'separator' (equal without
-- - _ . : and spaces), 'edit_distance' (Damerau-Levenshtein distance at most
-- least($max_distance, length of the accepted key / 3), so that short keys such as 'team' do not
-- match every four-letter key). Keys accepted for any dimension and aws_ keys are never variants.
-- Each variant is reported once, against its closest accepted key.
-- Markers: line_items. Parameters: $billing_period, $taggable_categories, $require_resource_id,
-- $accepted_keys (required tag, accepted key, order), $all_keys, $max_distance.
WITH key_sets AS (
    -- The only pass over the line items: taggable cost per set of tag keys (a few dozen sets a
    -- month), so that keys are unnested per set, not per line item.
    SELECT map_keys(tags) AS tag_key_set, sum(amortized_cost) AS amortized, count(*) AS line_items
    FROM /*@line_items*/
    WHERE billing_period = $billing_period
        AND list_contains(CAST($taggable_categories AS VARCHAR[]), charge_category)
        -- A resource id other than blanks. Nothing left after trimming the left end is nothing left after
        -- trimming both (same blanks; every code point checked, DuckDB 2.0.1), and a scan filtered by
        -- ltrim() costs 0.05 CPU s per million line items, by nullif(trim(resource_id), '') 0.37.
        AND (NOT $require_resource_id OR ltrim(resource_id) <> '')
        AND cardinality(tags) > 0
    GROUP BY ALL
),
tag_keys AS (
    SELECT tag_key, sum(amortized) AS amortized, CAST(sum(line_items) AS BIGINT) AS line_items
    FROM (SELECT unnest(tag_key_set) AS tag_key, amortized, line_items FROM key_sets)
    GROUP BY ALL
),
accepted AS (
    SELECT unnest(
        CAST($accepted_keys AS STRUCT(required_tag VARCHAR, accepted_key VARCHAR, key_order INTEGER)[]), recursive := true
    )
),
candidates AS (
    SELECT
        k.tag_key, k.amortized, k.line_items, a.required_tag, a.accepted_key, a.key_order,
        regexp_replace(lower(trim(k.tag_key)), '^user[_:]', '') AS norm_key
    FROM tag_keys AS k
    CROSS JOIN accepted AS a
    WHERE NOT list_contains(CAST($all_keys AS VARCHAR[]), k.tag_key)
        AND NOT starts_with(lower(trim(k.tag_key)), 'aws_')
),
classified AS (
    SELECT
        *,
        damerau_levenshtein(norm_key, accepted_key) AS distance,
        CASE
            WHEN norm_key = accepted_key THEN 'case_or_whitespace'
            WHEN regexp_replace(norm_key, '[-_.: ]', '', 'g') = regexp_replace(accepted_key, '[-_.: ]', '', 'g')
                THEN 'separator'
            WHEN damerau_levenshtein(norm_key, accepted_key) <= least($max_distance, length(accepted_key) // 3)
                THEN 'edit_distance'
        END AS match_kind
    FROM candidates
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    tag_key,
    required_tag,
    accepted_key AS closest_key,
    match_kind,
    distance,
    line_items,
    CAST(round(amortized, 2) AS DECIMAL(18,2)) AS amortized_cost
FROM classified
WHERE match_kind IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY tag_key
    ORDER BY CASE match_kind WHEN 'case_or_whitespace' THEN 0 WHEN 'separator' THEN 1 ELSE 2 END, distance, key_order
) = 1
ORDER BY amortized DESC, tag_key
