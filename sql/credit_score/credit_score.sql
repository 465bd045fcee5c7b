-- credit_score: per owner, week and month of one billing period, each component's score, its
-- weight after dropping the components that do not apply, its contribution, and the composite
-- with its change against the previous week (month). Formula and worked example: docs/credit_score.md.
-- Reads $kpis (efficiency_kpis rows for all accounts: usage_account_id NULL) of this and the
-- previous billing period; the previous period's rows only give the previous composites.
-- Parameters: $kpis, $billing_period, $previous_period, $components (STRUCT(kpi, goal, zero_at, weight)[]).
WITH components AS (
    SELECT unnest(CAST($components AS STRUCT(kpi VARCHAR, goal DOUBLE, zero_at DOUBLE, weight DOUBLE)[]), recursive := true)
),
kpis AS (
    SELECT billing_period, grain, period_start, team, kpi, value, applies
    FROM query_table($kpis)
    WHERE usage_account_id IS NULL AND billing_period IN ($previous_period, $billing_period)
),
scored AS (
    -- 100 points at the goal or better, 0 at zero_at or worse, linear in between (either direction).
    SELECT
        k.billing_period, k.grain, k.period_start, k.team, k.kpi AS component, k.value,
        c.goal, c.zero_at, c.weight,
        k.applies AND c.weight > 0 AS applies,
        CASE WHEN k.applies THEN 100.0 * greatest(0.0, least(1.0, (k.value - c.zero_at) / (c.goal - c.zero_at))) END
            AS score
    FROM kpis AS k
    JOIN components AS c ON c.kpi = k.kpi
),
weighted AS (
    SELECT
        *,
        CASE WHEN applies THEN weight / sum(weight) FILTER (WHERE applies) OVER team_window ELSE 0.0 END
            AS effective_weight
    FROM scored
    WINDOW team_window AS (PARTITION BY billing_period, grain, period_start, team)
),
contributions AS (
    SELECT
        *,
        CASE WHEN applies THEN effective_weight * score ELSE 0.0 END AS contribution
    FROM weighted
),
composed AS (
    SELECT
        *,
        -- NULL when no component applies: a team without any measurable usage has no score.
        CASE WHEN bool_or(applies) OVER team_window THEN sum(contribution) OVER team_window END AS composite
    FROM contributions
    WINDOW team_window AS (PARTITION BY billing_period, grain, period_start, team)
)
SELECT
    cur.billing_period,
    cur.grain,
    cur.period_start,
    cur.team,
    cur.component,
    cur.value,
    cur.goal,
    cur.zero_at,
    cur.weight,
    cur.applies,
    cur.score,
    cur.effective_weight,
    cur.contribution,
    prev.contribution AS previous_contribution,
    cur.contribution - prev.contribution AS contribution_change,
    cur.composite,
    prev.composite AS previous_composite,
    cur.composite - prev.composite AS composite_change
FROM composed AS cur
LEFT JOIN composed AS prev
    ON prev.grain = cur.grain
    AND prev.team IS NOT DISTINCT FROM cur.team
    AND prev.component = cur.component
    AND prev.period_start = CASE cur.grain
        WHEN 'week' THEN cur.period_start - 7
        ELSE CAST(cur.period_start - INTERVAL 1 MONTH AS DATE)
    END
WHERE cur.billing_period = $billing_period
ORDER BY cur.grain, cur.period_start, cur.team NULLS FIRST, cur.component
