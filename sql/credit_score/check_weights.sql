-- Gate on a built credit_score table: one row per failing owner and window (empty = pass).
-- After dropping the components that do not apply, the weights sum to one; a dropped component
-- has weight 0; a window with no applicable component has no composite.
-- Parameters: $credit_score, $billing_period.
SELECT
    grain, period_start, team,
    sum(effective_weight) AS weight_sum,
    count(*) FILTER (WHERE NOT applies AND effective_weight <> 0) AS dropped_with_weight,
    bool_or(applies) AS any_applies,
    min(composite) AS composite
FROM query_table($credit_score)
WHERE billing_period = $billing_period
GROUP BY ALL
HAVING (bool_or(applies) AND abs(sum(effective_weight) - 1) > 1e-9)
    OR count(*) FILTER (WHERE NOT applies AND effective_weight <> 0) > 0
    OR (NOT bool_or(applies) AND count(composite) > 0)
    OR count(*) FILTER (WHERE effective_weight < 0) > 0
ORDER BY ALL
