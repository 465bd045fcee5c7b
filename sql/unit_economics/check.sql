-- Gate of unit_economics: one row per failure (no rows = pass).
-- Parameters: $unit_economics (the built table), $team_cost_daily, $metrics (its inputs),
--   $billing_period, $unallocated_team.
-- Money is rounded to the cent per output row, so a sum over n rows may differ from the rounded
-- source total by at most n half-cents: that is the tolerance, and the only one.
WITH
ue AS (
    SELECT * FROM query_table($unit_economics) WHERE billing_period = $billing_period
),
grains AS (SELECT unnest(['day', 'month']) AS grain),
source_cost AS (
    SELECT team, sum(direct_cost + shared_cost) AS allocated_cost
    FROM query_table($team_cost_daily)
    WHERE billing_period = $billing_period AND team IS DISTINCT FROM $unallocated_team
    GROUP BY team
),
source_metrics AS (
    SELECT team, sum(revenue) AS revenue, sum(orders) AS orders
    FROM query_table($metrics)
    WHERE billing_period = $billing_period AND team IS DISTINCT FROM $unallocated_team
    GROUP BY team
),
expected AS (
    SELECT g.grain, coalesce(c.team, m.team) AS team, coalesce(c.allocated_cost, 0) AS allocated_cost,
           coalesce(m.revenue, 0) AS revenue, coalesce(m.orders, 0) AS orders
    FROM grains g CROSS JOIN (source_cost c FULL JOIN source_metrics m ON c.team = m.team)
),
actual AS (
    SELECT grain, team, sum(allocated_cost) AS allocated_cost, coalesce(sum(revenue), 0) AS revenue,
           coalesce(sum(orders), 0) AS orders, count(*) AS n_rows
    FROM ue GROUP BY grain, team
),
compared AS (
    SELECT coalesce(e.grain, a.grain) AS grain, coalesce(e.team, a.team) AS team,
           coalesce(e.allocated_cost, 0) AS e_cost, coalesce(a.allocated_cost, 0) AS a_cost,
           coalesce(e.revenue, 0) AS e_revenue, coalesce(a.revenue, 0) AS a_revenue,
           coalesce(e.orders, 0) AS e_orders, coalesce(a.orders, 0) AS a_orders,
           0.005 * greatest(coalesce(a.n_rows, 0), 1) AS tolerance
    FROM expected e FULL JOIN actual a ON e.grain = a.grain AND e.team = a.team
),
failures AS (
    SELECT 'allocated_cost reconciles with cost allocation' AS "check", grain, team, NULL::DATE AS period_start,
           NULL::VARCHAR AS product, e_cost::VARCHAR AS expected, a_cost::VARCHAR AS actual
    FROM compared WHERE abs(e_cost - a_cost) > tolerance
    UNION ALL
    SELECT 'revenue reconciles with business metrics', grain, team, NULL, NULL, e_revenue::VARCHAR, a_revenue::VARCHAR
    FROM compared WHERE abs(e_revenue - a_revenue) > tolerance
    UNION ALL
    SELECT 'orders reconcile with business metrics', grain, team, NULL, NULL, e_orders::VARCHAR, a_orders::VARCHAR
    FROM compared WHERE e_orders <> a_orders
    UNION ALL
    SELECT 'one row per grain, period, team and product', grain, team, period_start, product, '1', count(*)::VARCHAR
    FROM ue GROUP BY grain, period_start, team, product HAVING count(*) > 1
    UNION ALL
    SELECT 'ratios are finite, and null exactly when a reason is given', grain, team, period_start, product,
           'finite ratio xor null reason', 'violated'
    FROM ue
    WHERE NOT (
        (cost_per_order IS NULL) = (cost_per_order_null_reason IS NOT NULL)
        AND (cost_per_active_user IS NULL) = (cost_per_active_user_null_reason IS NOT NULL)
        AND (cloud_cost_to_revenue IS NULL) = (cloud_cost_to_revenue_null_reason IS NOT NULL)
        AND (gross_margin_ratio IS NULL) = (gross_margin_ratio_null_reason IS NOT NULL)
        AND (allocated_cost_change_ratio IS NULL) = (allocated_cost_change_ratio_null_reason IS NOT NULL)
        AND (cost_per_order_change_ratio IS NULL) = (cost_per_order_change_ratio_null_reason IS NOT NULL)
        AND (cost_per_active_user_change_ratio IS NULL) = (cost_per_active_user_change_ratio_null_reason IS NOT NULL)
        AND coalesce(isfinite(cost_per_order), true) AND coalesce(isfinite(cost_per_active_user), true)
        AND coalesce(isfinite(cloud_cost_to_revenue), true) AND coalesce(isfinite(gross_margin_ratio), true)
        AND coalesce(isfinite(allocated_cost_change_ratio), true)
        AND coalesce(isfinite(cost_per_order_change_ratio), true)
        AND coalesce(isfinite(cost_per_active_user_change_ratio), true)
    )
)
SELECT * FROM failures ORDER BY "check", grain, team, period_start, product
