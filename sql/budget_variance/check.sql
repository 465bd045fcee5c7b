-- Gate of budget_variance: one row per failure (no rows = pass).
-- Parameters: $budget_variance (the built table), $team_cost_daily, $billing_period,
--   $month_start, $month_end (DATE).
-- Actuals are rounded to the cent once per output row: the tolerance is half a cent.
WITH
bv AS (
    SELECT * FROM query_table($budget_variance) WHERE billing_period = $billing_period
),
as_of AS (
    SELECT max(as_of) AS as_of, count(DISTINCT as_of) AS n FROM bv
),
allocated AS (
    SELECT t.team, t.service_code, t.direct_cost + t.shared_cost AS cost
    FROM query_table($team_cost_daily) t, as_of a
    WHERE t.billing_period = $billing_period AND t.usage_date BETWEEN $month_start AND a.as_of
),
expected AS (
    SELECT team, NULL::VARCHAR AS service_code, sum(cost) AS actual FROM allocated GROUP BY team
    UNION ALL
    SELECT a.team, a.service_code, sum(a.cost)
    FROM allocated a JOIN (SELECT DISTINCT team, service_code FROM bv WHERE scope = 'service') s
      ON a.team = s.team AND a.service_code = s.service_code
    GROUP BY a.team, a.service_code
),
compared AS (
    SELECT coalesce(e.team, b.team) AS team, coalesce(e.service_code, b.service_code) AS service_code,
           coalesce(e.actual, 0) AS expected, coalesce(b.actual_mtd, 0) AS actual
    FROM expected e
    FULL JOIN bv b ON b.team = e.team AND b.service_code IS NOT DISTINCT FROM e.service_code
)
SELECT 'actual_mtd equals allocated cost to date' AS "check", team, service_code,
       expected::VARCHAR AS expected, actual::VARCHAR AS actual
FROM compared WHERE abs(expected - actual) > 0.005
UNION ALL
SELECT 'one as_of per billing period', NULL, NULL, '1', n::VARCHAR FROM as_of WHERE n > 1
UNION ALL
SELECT 'one row per team and service', team, service_code, '1', count(*)::VARCHAR
FROM bv GROUP BY team, service_code HAVING count(*) > 1
UNION ALL
SELECT 'forecast of a complete month equals its actual', team, service_code,
       actual_mtd::VARCHAR, forecast::VARCHAR
FROM bv WHERE as_of = $month_end::DATE AND forecast <> actual_mtd
ORDER BY 1, 2, 3
