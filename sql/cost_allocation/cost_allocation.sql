-- cost_allocation: cost per day x owner (team, product, environment, cost center) x account x service
-- x charge category, in cents, split into the direct part (the owner's own line items) and the shared
-- part (its share of a pool; pool names which). Follows split_cells.sql (the `rounded` cells).
-- allocation_method: tag, account, rule, shared or unallocated (team NULL, allocation_reason says why).
-- Per day and cost basis, direct + shared over all rows equals round(sum of cost_line_items, 2) exactly.
-- Shared rows that are zero on every basis (a recipient weighing nothing that day) are left out;
-- shared_cost_split keeps them.
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    usage_date,
    team,
    product,
    environment,
    cost_center,
    allocation_method,
    allocation_reason,
    pool,
    usage_account_id,
    service_code,
    charge_category,
    currency,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'unblended' AND pool IS NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS direct_unblended_cost,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'unblended' AND pool IS NOT NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS shared_unblended_cost,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'amortized' AND pool IS NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS direct_amortized_cost,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'amortized' AND pool IS NOT NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS shared_amortized_cost,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'net_amortized' AND pool IS NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS direct_net_amortized_cost,
    CAST(CAST(coalesce(sum(cents) FILTER (WHERE cost_basis = 'net_amortized' AND pool IS NOT NULL), 0) AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(18,2)) AS shared_net_amortized_cost
FROM rounded
GROUP BY ALL
HAVING pool IS NULL OR bool_or(cents <> 0)
ORDER BY
    usage_date, team NULLS LAST, allocation_method, pool NULLS FIRST, usage_account_id, service_code,
    charge_category, product NULLS FIRST, environment NULLS FIRST, cost_center NULLS FIRST,
    allocation_reason NULLS FIRST, currency
