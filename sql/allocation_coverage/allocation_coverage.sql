-- allocation_coverage: the share of cost attributed to an owner, per day and per month, overall and
-- per account, on each cost basis. Reads the cost_allocation table (as the relation `cost_allocation`).
-- Attributed = tag + account + rule + shared (pool cost split to owners); unallocated = rows with no
-- team (line items without a known owner, and pool cost that could not be split).
-- coverage = (total - unallocated) / total; NULL when the total is zero. Shared cost counts in the
-- account its line items were billed to.
WITH long AS (
    SELECT
        ca.billing_period, ca.usage_date, ca.usage_account_id, ca.allocation_method, b.cost_basis,
        CASE b.cost_basis
            WHEN 'unblended' THEN ca.direct_unblended_cost + ca.shared_unblended_cost
            WHEN 'amortized' THEN ca.direct_amortized_cost + ca.shared_amortized_cost
            ELSE ca.direct_net_amortized_cost + ca.shared_net_amortized_cost
        END AS cost
    FROM cost_allocation AS ca
    CROSS JOIN (VALUES ('unblended'), ('amortized'), ('net_amortized')) AS b(cost_basis)
),
grouped AS (
    SELECT
        billing_period,
        CASE WHEN grouping(usage_date) = 0 THEN 'day' ELSE 'month' END AS period_grain,
        usage_date,
        CASE WHEN grouping(usage_account_id) = 0 THEN 'account' ELSE 'overall' END AS scope,
        usage_account_id,
        cost_basis,
        sum(cost) AS total_cost,
        coalesce(sum(cost) FILTER (WHERE allocation_method = 'tag'), 0) AS tag_cost,
        coalesce(sum(cost) FILTER (WHERE allocation_method = 'account'), 0) AS account_cost,
        coalesce(sum(cost) FILTER (WHERE allocation_method = 'rule'), 0) AS rule_cost,
        coalesce(sum(cost) FILTER (WHERE allocation_method = 'shared'), 0) AS shared_cost,
        coalesce(sum(cost) FILTER (WHERE allocation_method = 'unallocated'), 0) AS unallocated_cost
    FROM long
    GROUP BY GROUPING SETS (
        (billing_period, cost_basis, usage_date),
        (billing_period, cost_basis, usage_date, usage_account_id),
        (billing_period, cost_basis),
        (billing_period, cost_basis, usage_account_id)
    )
)
SELECT
    billing_period, period_grain, usage_date, scope, usage_account_id, cost_basis,
    CAST(total_cost AS DECIMAL(18,2)) AS total_cost,
    CAST(total_cost - unallocated_cost AS DECIMAL(18,2)) AS allocated_cost,
    CAST(tag_cost AS DECIMAL(18,2)) AS tag_cost,
    CAST(account_cost AS DECIMAL(18,2)) AS account_cost,
    CAST(rule_cost AS DECIMAL(18,2)) AS rule_cost,
    CAST(shared_cost AS DECIMAL(18,2)) AS shared_cost,
    CAST(unallocated_cost AS DECIMAL(18,2)) AS unallocated_cost,
    CASE WHEN total_cost <> 0
        THEN CAST(total_cost - unallocated_cost AS DOUBLE) / CAST(total_cost AS DOUBLE) END AS coverage
FROM grouped
ORDER BY billing_period, period_grain DESC, usage_date NULLS FIRST, scope DESC, usage_account_id NULLS FIRST, cost_basis
