-- top_movers_week_over_week: per ISO week (Monday to Sunday), each team x service's amortized cost
-- against the week before, ranked by the size of the change (1 = the largest rise or fall).
-- A series that stopped has cost 0 this week; one that started has previous_week_cost 0.
-- `complete` is true when both weeks have cost on all seven days: the first week of the lake and
-- a week still in progress compare part of a week and say so. The first week has no row.
-- requires: cost_allocation
WITH weekly AS (
    SELECT
        CAST(date_trunc('week', usage_date) AS DATE) AS week_start,
        coalesce(team, 'unallocated') AS team,
        service_code,
        currency,
        sum(direct_amortized_cost + shared_amortized_cost) AS cost
    FROM cost_allocation
    GROUP BY ALL
),
weeks AS (
    SELECT CAST(date_trunc('week', usage_date) AS DATE) AS week_start, count(DISTINCT usage_date) AS days_with_data
    FROM cost_allocation
    GROUP BY ALL
),
paired AS (
    SELECT
        coalesce(cur.week_start, CAST(prev.week_start + INTERVAL 7 DAY AS DATE)) AS week_start,
        coalesce(cur.team, prev.team) AS team,
        coalesce(cur.service_code, prev.service_code) AS service_code,
        coalesce(cur.currency, prev.currency) AS currency,
        coalesce(cur.cost, 0) AS cost,
        coalesce(prev.cost, 0) AS previous_week_cost
    FROM weekly AS cur
    FULL JOIN weekly AS prev
        ON prev.week_start = CAST(cur.week_start - INTERVAL 7 DAY AS DATE)
        AND prev.team = cur.team
        AND prev.service_code IS NOT DISTINCT FROM cur.service_code
        AND prev.currency = cur.currency
)
SELECT
    p.week_start,
    p.team,
    p.service_code,
    p.currency,
    p.cost,
    p.previous_week_cost,
    p.cost - p.previous_week_cost AS change,
    CASE WHEN p.previous_week_cost > 0 THEN (p.cost - p.previous_week_cost) / p.previous_week_cost END AS change_ratio,
    rank() OVER (PARTITION BY p.week_start, p.currency ORDER BY abs(p.cost - p.previous_week_cost) DESC) AS rank,
    w.days_with_data = 7 AND pw.days_with_data = 7 AS complete
FROM paired AS p
JOIN weeks AS w ON w.week_start = p.week_start
JOIN weeks AS pw ON pw.week_start = CAST(p.week_start - INTERVAL 7 DAY AS DATE)
