-- Drivers of pools split by a business metric: the metric per pool, day and team from the
-- business_metrics_daily table (marker metrics: its quoted name), summed over products.
-- Columns read: date, team, revenue, orders, active_users, requests (docs/CONTRACTS.md).
SELECT
    p.pool,
    CAST(m.date AS DATE) AS usage_date,
    CAST(m.team AS VARCHAR) AS team,
    CAST(sum(CASE p.driver_metric
        WHEN 'revenue' THEN CAST(m.revenue AS DECIMAL(38,6))
        WHEN 'orders' THEN CAST(m.orders AS DECIMAL(38,6))
        WHEN 'active_users' THEN CAST(m.active_users AS DECIMAL(38,6))
        WHEN 'requests' THEN CAST(m.requests AS DECIMAL(38,6))
    END) AS DECIMAL(38,6)) AS value
FROM /*@metrics*/ AS m
JOIN pools AS p ON p.driver_metric IS NOT NULL
WHERE CAST(m.date AS DATE) IN (SELECT usage_date FROM pool_days)
GROUP BY ALL
