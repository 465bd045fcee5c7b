-- budget_variance: per team (and per team and service where a service budget is set) and month,
-- budget, actual month to date, forecast for the full month, variance and status, as of $as_of.
-- Needs the common table expression `forecast` (sql/budget_variance/forecast.sql, run with
-- $as_of_dates = [$as_of]). Definitions: docs/unit_economics.md.
--
-- Parameters: $budgets (relation name); $billing_period; $as_of (DATE); $days_in_month;
--   $currency; $at_risk_ratio (forecast / budget above which a budget is at risk, 1.0).
-- Status: 'over' when the actual to date already exceeds the budget, 'at_risk' when the forecast
-- exceeds budget * $at_risk_ratio, 'on_track' otherwise, 'no_budget' for series without one.
WITH
budget_rows AS (
    SELECT team, service_code, budget
    FROM query_table($budgets)
    WHERE billing_period = $billing_period
)
SELECT
    f.billing_period,
    f.team,
    f.service_code,
    f.scope,
    $currency::VARCHAR AS currency,
    f.as_of,
    f.days_elapsed,
    $days_in_month::INTEGER AS days_in_month,
    CAST(b.budget AS DECIMAL(18,2)) AS budget,
    f.actual_to_date AS actual_mtd,
    f.forecast,
    f.forecast_method,
    CAST(f.forecast - b.budget AS DECIMAL(18,2)) AS variance,
    CASE WHEN b.budget > 0 THEN (f.forecast - b.budget)::DOUBLE / b.budget::DOUBLE END AS variance_ratio,
    CASE WHEN b.budget > 0 THEN f.actual_to_date::DOUBLE / b.budget::DOUBLE END AS budget_used_ratio,
    CASE WHEN b.team IS NULL THEN 'no budget'
         WHEN b.budget = 0 THEN 'zero budget' END AS ratio_null_reason,
    CASE WHEN b.team IS NULL THEN 'no_budget'
         WHEN f.actual_to_date > b.budget THEN 'over'
         WHEN f.forecast > b.budget * $at_risk_ratio THEN 'at_risk'
         ELSE 'on_track' END AS status
FROM forecast f
LEFT JOIN budget_rows b
  ON b.team = f.team AND b.service_code IS NOT DISTINCT FROM f.service_code
WHERE f.as_of = $as_of
ORDER BY f.team, f.service_code NULLS FIRST
