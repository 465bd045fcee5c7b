-- shared_cost_split: how each pool's cost was split, per day and cost basis. Follows split_cells.sql.
-- One row per pool, day, cost basis and configured recipient (idle recipients included, amount 0),
-- plus one row with recipient NULL and applied_method 'none' for pool cost left unallocated (a pool
-- without recipients, or on_zero: unallocated on a day when every driver is zero).
-- method: the configured one; applied_method: what was applied ('even' when every weight was zero
-- and on_zero is even). driver: what driver_value measures (direct_cost, even, weight, a business
-- metric, usage_amount); driver_share: the recipient's share of the applied weights.
-- amount sums to pool_amount; both are the same cents as the shared rows of cost_allocation.
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    w.pool,
    w.usage_date,
    w.currency,
    w.cost_basis,
    w.recipient,
    w.method,
    w.applied_method,
    w.driver,
    w.driver_value,
    CASE WHEN w.applied_total > 0 THEN CAST(w.applied_weight AS DOUBLE) / CAST(w.applied_total AS DOUBLE) ELSE 0 END
        AS driver_share,
    CAST(CAST(pa.cents AS DECIMAL(38,0)) * 0.01 AS DECIMAL(18,2)) AS pool_amount,
    CAST(CAST(coalesce(ra.cents, 0) AS DECIMAL(38,0)) * 0.01 AS DECIMAL(18,2)) AS amount
FROM weights AS w
JOIN (
    SELECT pool, usage_date, currency, cost_basis, sum(cents) AS cents
    FROM rounded WHERE pool IS NOT NULL GROUP BY ALL
) AS pa USING (pool, usage_date, currency, cost_basis)
LEFT JOIN (
    SELECT pool, usage_date, currency, cost_basis, team AS recipient, sum(cents) AS cents
    FROM rounded WHERE allocation_method = 'shared' GROUP BY ALL
) AS ra USING (pool, usage_date, currency, cost_basis, recipient)
UNION ALL
SELECT
    CAST($billing_period AS VARCHAR),
    u.pool,
    u.usage_date,
    u.currency,
    u.cost_basis,
    NULL,
    p.method,
    'none',
    p.driver,
    NULL,
    NULL,
    CAST(CAST(pa.cents AS DECIMAL(38,0)) * 0.01 AS DECIMAL(18,2)),
    CAST(CAST(u.cents AS DECIMAL(38,0)) * 0.01 AS DECIMAL(18,2))
FROM (
    SELECT pool, usage_date, currency, cost_basis, sum(cents) AS cents
    FROM rounded WHERE allocation_method = 'unallocated' AND pool IS NOT NULL GROUP BY ALL
) AS u
JOIN pools AS p USING (pool)
JOIN (
    SELECT pool, usage_date, currency, cost_basis, sum(cents) AS cents
    FROM rounded WHERE pool IS NOT NULL GROUP BY ALL
) AS pa USING (pool, usage_date, currency, cost_basis)
ORDER BY pool, usage_date, currency, cost_basis, recipient NULLS LAST
