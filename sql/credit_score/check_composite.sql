-- Gate on a built credit_score table: one row per failure (empty = pass).
-- Scores in [0, 100]; contribution = effective_weight x score; the composite equals the sum of its
-- contributions (one composite per owner and window); change = composite - previous composite.
-- Parameters: $credit_score, $billing_period.
WITH windows AS (
    SELECT
        grain, period_start, team,
        min(composite) AS composite, max(composite) AS composite_max, sum(contribution) AS contributions,
        min(previous_composite) AS previous_composite, min(composite_change) AS composite_change,
        count(*) FILTER (WHERE score < 0 OR score > 100 OR isnan(score)) AS scores_out_of_range,
        count(*) FILTER (WHERE applies AND abs(contribution - effective_weight * score) > 1e-9) AS bad_contributions
    FROM query_table($credit_score)
    WHERE billing_period = $billing_period
    GROUP BY ALL
)
SELECT
    CASE
        WHEN composite IS DISTINCT FROM composite_max THEN 'one composite per owner and window'
        WHEN scores_out_of_range > 0 THEN 'scores between 0 and 100'
        WHEN bad_contributions > 0 THEN 'contribution = effective_weight x score'
        WHEN abs(composite - contributions) > 1e-9 THEN 'composite = sum of contributions'
        ELSE 'change = composite - previous composite'
    END AS "check",
    grain, period_start, team, composite, contributions, previous_composite, composite_change
FROM windows
WHERE composite IS DISTINCT FROM composite_max
    OR scores_out_of_range > 0
    OR bad_contributions > 0
    OR abs(composite - contributions) > 1e-9
    OR abs(composite - previous_composite - composite_change) > 1e-9
    OR (composite_change IS NULL) <> (composite IS NULL OR previous_composite IS NULL)
ORDER BY ALL
