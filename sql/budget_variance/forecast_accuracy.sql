-- forecast_accuracy: for a closed month, the month-end forecast as it stood at each checkpoint
-- (e.g. day 7, 14, 21, 28) against the final actual, per team (and team and service where a
-- service budget is set). Needs the common table expression `forecast` run with
-- $as_of_dates = the checkpoint dates plus $month_end (whose actual to date is the final actual).
--
-- Parameters: $month_end (DATE); $currency.
-- forecast_accuracy = 1 - |forecast - actual| / actual (FinOps Foundation), null with a reason
-- when the actual is zero or negative.
WITH
final AS (
    SELECT team, service_code, actual_to_date AS actual
    FROM forecast WHERE as_of = $month_end::DATE
)
SELECT
    f.billing_period,
    f.team,
    f.service_code,
    f.scope,
    $currency::VARCHAR AS currency,
    f.days_elapsed AS checkpoint_day,
    f.as_of,
    f.actual_to_date,
    f.forecast,
    f.forecast_method,
    c.actual,
    CAST(f.forecast - c.actual AS DECIMAL(18,2)) AS forecast_error,
    CASE WHEN c.actual > 0 THEN 1 - abs(f.forecast - c.actual)::DOUBLE / c.actual::DOUBLE END AS forecast_accuracy,
    CASE WHEN c.actual = 0 THEN 'actual is zero'
         WHEN c.actual < 0 THEN 'actual is negative' END AS forecast_accuracy_null_reason
FROM forecast f
JOIN final c ON c.team = f.team AND c.service_code IS NOT DISTINCT FROM f.service_code
WHERE f.as_of < $month_end::DATE
ORDER BY f.team, f.service_code NULLS FIRST, f.as_of
