-- unallocated_drivers: what to fix first. Unallocated line items of one billing period grouped by
-- service, account, reason and the unknown team tag value (if that is the reason), ranked by
-- amortized cost, with the resources behind each group (the costliest first). Follows
-- allocated_line_items.sql (the CTE `allocated`). Pool cost that could not be split is not a line
-- item problem: shared_cost_split shows it (recipient NULL).
-- Parameters: $billing_period, $top_n, $top_resources.
by_resource AS (
    SELECT
        service_code, usage_account_id, allocation_reason, tag_team AS unknown_team_value, resource_id,
        sum(amortized_cost) AS amortized, sum(unblended_cost) AS unblended, count(*) AS line_items
    FROM allocated
    WHERE allocation_method = 'unallocated'
    GROUP BY ALL
),
grouped AS (
    SELECT
        service_code, usage_account_id, allocation_reason, unknown_team_value,
        sum(amortized) AS amortized, sum(unblended) AS unblended, CAST(sum(line_items) AS BIGINT) AS line_items,
        count(resource_id) AS resources,
        list(resource_id ORDER BY amortized DESC, resource_id) FILTER (WHERE resource_id IS NOT NULL) AS resource_ids
    FROM by_resource
    GROUP BY ALL
),
ranked AS (
    SELECT
        *,
        row_number() OVER (
            ORDER BY amortized DESC, service_code, usage_account_id, allocation_reason, unknown_team_value NULLS FIRST
        ) AS rank,
        sum(amortized) OVER () AS all_unallocated
    FROM grouped
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    rank,
    service_code,
    usage_account_id,
    allocation_reason,
    unknown_team_value,
    CAST(round(amortized, 2) AS DECIMAL(18,2)) AS unallocated_amortized_cost,
    CAST(round(unblended, 2) AS DECIMAL(18,2)) AS unallocated_unblended_cost,
    CASE WHEN all_unallocated <> 0 THEN CAST(amortized AS DOUBLE) / CAST(all_unallocated AS DOUBLE) END
        AS share_of_unallocated,
    line_items,
    resources,
    coalesce(resource_ids[1:$top_resources], []) AS top_resource_ids
FROM ranked
WHERE rank <= $top_n
ORDER BY rank
