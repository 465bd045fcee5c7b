-- unit_economics: allocated cloud cost, business drivers and unit costs per team and product,
-- per day (grain 'day') and per month (grain 'month'), with the change against the previous day
-- or month. Definitions and edge cases: docs/unit_economics.md.
--
-- Parameters: $team_cost_daily, $metrics (relation names, read with query_table);
--   $billing_period, $previous_period ('YYYY-MM'); $unallocated_team (excluded: it has no
--   business drivers); $currency (of every money column).
-- Ratios are fractions (0.12 = 12 %). A ratio whose denominator is zero, negative or missing is
-- NULL and its <ratio>_null_reason says why; a non-null ratio has a null reason.
WITH
cost_daily AS (
    SELECT usage_date AS day, billing_period, team, product,
           sum(direct_cost) AS direct_cost, sum(shared_cost) AS shared_cost
    FROM query_table($team_cost_daily)
    WHERE billing_period IN ($previous_period, $billing_period)
      AND team IS DISTINCT FROM $unallocated_team
    GROUP BY ALL
),
-- Days with any delivered cost (the unallocated team included): a previous period without any
-- is "no data", not "zero cost".
data_days AS (
    SELECT DISTINCT usage_date AS day
    FROM query_table($team_cost_daily)
    WHERE billing_period IN ($previous_period, $billing_period)
),
-- One row per (date, team, product): the builder rejects duplicates before this runs.
metrics_daily AS (
    SELECT "date" AS day, billing_period, team, product, revenue, orders, active_users
    FROM query_table($metrics)
    WHERE billing_period IN ($previous_period, $billing_period)
      AND team IS DISTINCT FROM $unallocated_team
),
joined AS (
    SELECT coalesce(c.day, m.day) AS day,
           coalesce(c.billing_period, m.billing_period) AS billing_period,
           coalesce(c.team, m.team) AS team,
           coalesce(c.product, m.product) AS product,
           coalesce(c.direct_cost, 0) AS direct_cost,
           coalesce(c.shared_cost, 0) AS shared_cost,
           m.revenue, m.orders, m.active_users,
           m.day IS NOT NULL AS has_metrics
    FROM cost_daily c
    FULL JOIN metrics_daily m
      ON c.day = m.day AND c.team = m.team AND c.product IS NOT DISTINCT FROM m.product
),
grains AS (
    SELECT 'day' AS grain, day AS period_start, billing_period, team, product,
           direct_cost, shared_cost, revenue, orders, active_users::DOUBLE AS active_users,
           1 AS days,
           (NOT has_metrics)::INTEGER AS days_without_metrics,
           (revenue IS NULL)::INTEGER AS days_without_revenue,
           (orders IS NULL)::INTEGER AS days_without_orders,
           (active_users IS NULL)::INTEGER AS days_without_active_users
    FROM joined
    UNION ALL
    -- A month's active users are the average of its daily active users (there is no monthly
    -- distinct count in the input); its unit cost is "cost per average daily active user".
    SELECT 'month', CAST(billing_period || '-01' AS DATE), billing_period, team, product,
           sum(direct_cost), sum(shared_cost), sum(revenue), sum(orders), avg(active_users),
           count(*),
           count(*) FILTER (WHERE NOT has_metrics),
           count(*) FILTER (WHERE revenue IS NULL),
           count(*) FILTER (WHERE orders IS NULL),
           count(*) FILTER (WHERE active_users IS NULL)
    FROM joined
    GROUP BY billing_period, team, product
),
reasons AS (
    SELECT *,
           direct_cost + shared_cost AS allocated_cost,
           CASE WHEN days_without_metrics = days THEN 'no business metrics'
                WHEN days_without_orders > 0 AND grain = 'day' THEN 'orders not reported'
                WHEN days_without_orders > 0 THEN 'orders missing on ' || days_without_orders || ' of ' || days || ' days'
                WHEN orders = 0 THEN 'zero orders'
           END AS cost_per_order_null_reason,
           CASE WHEN days_without_metrics = days THEN 'no business metrics'
                WHEN days_without_active_users > 0 AND grain = 'day' THEN 'active users not reported'
                WHEN days_without_active_users > 0 THEN 'active users missing on ' || days_without_active_users || ' of ' || days || ' days'
                WHEN active_users = 0 THEN 'zero active users'
           END AS cost_per_active_user_null_reason,
           CASE WHEN days_without_metrics = days THEN 'no business metrics'
                WHEN days_without_revenue > 0 AND grain = 'day' THEN 'revenue not reported'
                WHEN days_without_revenue > 0 THEN 'revenue missing on ' || days_without_revenue || ' of ' || days || ' days'
                WHEN revenue = 0 THEN 'zero revenue'
                WHEN revenue < 0 THEN 'negative revenue'
           END AS revenue_null_reason
    FROM grains
),
ratios AS (
    SELECT *,
           CASE WHEN cost_per_order_null_reason IS NULL THEN allocated_cost::DOUBLE / orders END AS cost_per_order,
           CASE WHEN cost_per_active_user_null_reason IS NULL THEN allocated_cost::DOUBLE / active_users END AS cost_per_active_user,
           CASE WHEN revenue_null_reason IS NULL THEN allocated_cost::DOUBLE / revenue::DOUBLE END AS cloud_cost_to_revenue,
           -- Money, so defined for zero or negative revenue too; unknown only without revenue.
           CASE WHEN revenue_null_reason IS NULL OR revenue_null_reason IN ('zero revenue', 'negative revenue')
                THEN revenue - allocated_cost END AS gross_margin,
           CASE WHEN revenue_null_reason IS NULL THEN (revenue - allocated_cost)::DOUBLE / revenue::DOUBLE END AS gross_margin_ratio
    FROM reasons
),
-- Which previous periods have data at all, and whether a previous month is complete (a change
-- against half a month would read as a 50 % drop).
previous_available AS (
    SELECT 'day' AS grain, day AS period_start, true AS complete FROM data_days
    UNION ALL
    SELECT 'month', date_trunc('month', min(day))::DATE, count(*) = day(last_day(min(day)))
    FROM data_days GROUP BY date_trunc('month', day)
),
current_period AS (
    SELECT *,
           CASE grain WHEN 'day' THEN period_start - 1 ELSE (period_start - INTERVAL 1 MONTH)::DATE END AS previous_start
    FROM ratios
    WHERE billing_period = $billing_period
),
with_previous AS (
    SELECT c.*,
           CASE WHEN a.period_start IS NULL THEN 'no data for previous period'
                WHEN NOT a.complete THEN 'previous period incomplete'
           END AS previous_reason,
           p.grain IS NOT NULL AS has_previous_row,
           p.allocated_cost AS p_allocated_cost,
           p.cost_per_order AS p_cost_per_order,
           p.cost_per_order_null_reason AS p_cost_per_order_null_reason,
           p.cost_per_active_user AS p_cost_per_active_user,
           p.cost_per_active_user_null_reason AS p_cost_per_active_user_null_reason
    FROM current_period c
    LEFT JOIN previous_available a
      ON a.grain = c.grain AND a.period_start = c.previous_start
    LEFT JOIN ratios p
      ON p.grain = c.grain AND p.period_start = c.previous_start
     AND p.team = c.team AND p.product IS NOT DISTINCT FROM c.product
),
changes AS (
    SELECT *,
           CASE WHEN previous_reason IS NULL THEN coalesce(p_allocated_cost, 0) END AS previous_allocated_cost,
           coalesce(previous_reason,
               CASE WHEN coalesce(p_allocated_cost, 0) = 0 THEN 'previous cost is zero'
                    WHEN p_allocated_cost < 0 THEN 'previous cost is negative' END
           ) AS allocated_cost_change_ratio_null_reason,
           coalesce(previous_reason,
               CASE WHEN cost_per_order IS NULL THEN 'cost_per_order is null'
                    WHEN NOT has_previous_row THEN 'previous period: no cost or business metrics'
                    WHEN p_cost_per_order IS NULL THEN 'previous period: ' || p_cost_per_order_null_reason
                    WHEN p_cost_per_order = 0 THEN 'previous cost_per_order is zero'
                    WHEN p_cost_per_order < 0 THEN 'previous cost_per_order is negative' END
           ) AS cost_per_order_change_ratio_null_reason,
           coalesce(previous_reason,
               CASE WHEN cost_per_active_user IS NULL THEN 'cost_per_active_user is null'
                    WHEN NOT has_previous_row THEN 'previous period: no cost or business metrics'
                    WHEN p_cost_per_active_user IS NULL THEN 'previous period: ' || p_cost_per_active_user_null_reason
                    WHEN p_cost_per_active_user = 0 THEN 'previous cost_per_active_user is zero'
                    WHEN p_cost_per_active_user < 0 THEN 'previous cost_per_active_user is negative' END
           ) AS cost_per_active_user_change_ratio_null_reason
    FROM with_previous
)
SELECT
    grain,
    period_start,
    billing_period,
    team,
    product,
    $currency::VARCHAR AS currency,
    CAST(direct_cost AS DECIMAL(18,2)) AS direct_cost,
    CAST(shared_cost AS DECIMAL(18,2)) AS shared_cost,
    CAST(allocated_cost AS DECIMAL(18,2)) AS allocated_cost,
    CAST(revenue AS DECIMAL(18,2)) AS revenue,
    CAST(orders AS BIGINT) AS orders,
    active_users,
    days,
    cost_per_order,
    cost_per_order_null_reason,
    cost_per_active_user,
    cost_per_active_user_null_reason,
    cloud_cost_to_revenue,
    revenue_null_reason AS cloud_cost_to_revenue_null_reason,
    CAST(gross_margin AS DECIMAL(18,2)) AS gross_margin,
    gross_margin_ratio,
    revenue_null_reason AS gross_margin_ratio_null_reason,
    CAST(previous_allocated_cost AS DECIMAL(18,2)) AS previous_allocated_cost,
    CAST(allocated_cost - previous_allocated_cost AS DECIMAL(18,2)) AS allocated_cost_change,
    CASE WHEN allocated_cost_change_ratio_null_reason IS NULL
         THEN (allocated_cost - previous_allocated_cost)::DOUBLE / previous_allocated_cost::DOUBLE END AS allocated_cost_change_ratio,
    allocated_cost_change_ratio_null_reason,
    CASE WHEN cost_per_order_change_ratio_null_reason IS NULL
         THEN (cost_per_order - p_cost_per_order) / p_cost_per_order END AS cost_per_order_change_ratio,
    cost_per_order_change_ratio_null_reason,
    CASE WHEN cost_per_active_user_change_ratio_null_reason IS NULL
         THEN (cost_per_active_user - p_cost_per_active_user) / p_cost_per_active_user END AS cost_per_active_user_change_ratio,
    cost_per_active_user_change_ratio_null_reason
FROM changes
ORDER BY grain DESC, period_start, team, product
