-- unallocated_cost_by_cause: cost that no team owns, per month, cause, service and account, with
-- its share of the month's unallocated and total cost. The cause is cost_allocation's
-- allocation_reason; unallocated_drivers has the resource ids and unknown tag values behind it.
-- requires: cost_allocation
WITH totals AS (
    SELECT
        billing_period, currency,
        sum(direct_amortized_cost + shared_amortized_cost) AS month_amortized_cost,
        sum(direct_amortized_cost + shared_amortized_cost) FILTER (WHERE team IS NULL) AS month_unallocated_cost
    FROM cost_allocation
    GROUP BY ALL
),
unallocated AS (
    SELECT
        billing_period, currency, allocation_reason AS cause, service_code, usage_account_id,
        sum(direct_amortized_cost + shared_amortized_cost) AS unallocated_amortized_cost,
        sum(direct_unblended_cost + shared_unblended_cost) AS unallocated_unblended_cost
    FROM cost_allocation
    WHERE team IS NULL
    GROUP BY ALL
)
SELECT
    u.billing_period,
    u.currency,
    u.cause,
    CASE u.cause
        WHEN 'unknown_team_tag' THEN 'team tag names a team that is not configured'
        WHEN 'no_owner' THEN 'no team tag, no account owner and no rule'
        WHEN 'pool_no_recipients' THEN 'shared pool without recipients'
        WHEN 'pool_zero_driver' THEN 'shared pool whose drivers were all zero that day'
        ELSE 'other: ' || coalesce(u.cause, 'no reason recorded')
    END AS cause_description,
    u.service_code,
    u.usage_account_id,
    u.unallocated_amortized_cost,
    u.unallocated_unblended_cost,
    CASE WHEN t.month_unallocated_cost > 0 THEN u.unallocated_amortized_cost / t.month_unallocated_cost END AS share_of_unallocated,
    CASE WHEN t.month_amortized_cost > 0 THEN u.unallocated_amortized_cost / t.month_amortized_cost END AS share_of_month
FROM unallocated AS u
JOIN totals AS t ON t.billing_period = u.billing_period AND t.currency = u.currency
