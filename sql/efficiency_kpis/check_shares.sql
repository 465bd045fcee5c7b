-- Gate on a built efficiency_kpis table: one row per failure (empty = pass).
-- Every share KPI in [0, 1]; value present exactly when the KPI applies; value equal to
-- numerator / denominator within the rounding of both to the cent.
-- Parameters: $kpis, $billing_period, $share_kpis.
SELECT
    CASE
        WHEN applies IS DISTINCT FROM (value IS NOT NULL) THEN 'value present exactly when applies'
        WHEN isnan(value) OR isinf(value) THEN 'value is finite'
        WHEN list_contains(CAST($share_kpis AS VARCHAR[]), kpi) AND (value < 0 OR value > 1) THEN 'share between 0 and 1'
        ELSE 'value = numerator / denominator'
    END AS "check",
    grain, period_start, team, usage_account_id, kpi, numerator, denominator, value
FROM query_table($kpis)
WHERE billing_period = $billing_period
    AND (
        applies IS DISTINCT FROM (value IS NOT NULL)
        OR isnan(value) OR isinf(value)
        OR (list_contains(CAST($share_kpis AS VARCHAR[]), kpi) AND (value < 0 OR value > 1))
        -- numerator and denominator are each within half a cent of the exact sums the value comes from
        OR abs(value * CAST(denominator AS DOUBLE) - CAST(numerator AS DOUBLE)) > 0.005 * (1 + abs(value)) + 1e-9
    )
ORDER BY ALL
