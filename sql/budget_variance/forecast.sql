-- Month-end cost forecast per team (and per team and service where a service budget is set),
-- as it stands at each date of $as_of_dates: actual to date plus, for every remaining day of the
-- month, a level times the weekday factor of that day. Method: docs/unit_economics.md.
--
-- Parameters: $team_cost_daily, $budgets (relation names); $billing_period, $previous_period;
--   $month_start, $month_end (DATE); $as_of_dates (DATE[], each within the month);
--   $history_days (window of the weekday shape, 28), $level_days (window of the level, 7),
--   $min_weekday_days (days of history needed to estimate a weekday shape, 14).
-- Only days up to each as_of are read for that as_of's forecast.
WITH
as_of_dates AS (
    SELECT DISTINCT unnest($as_of_dates::DATE[]) AS as_of
),
service_budgets AS (
    SELECT DISTINCT team, service_code
    FROM query_table($budgets)
    WHERE billing_period = $billing_period AND service_code IS NOT NULL
),
source AS (
    SELECT usage_date AS day, team, service_code, direct_cost + shared_cost AS cost
    FROM query_table($team_cost_daily)
    WHERE billing_period IN ($previous_period, $billing_period)
      AND usage_date BETWEEN $month_start::DATE - ($history_days - 1) AND $month_end
),
daily AS (
    SELECT day, team, NULL::VARCHAR AS service_code, sum(cost) AS cost
    FROM source GROUP BY day, team
    UNION ALL
    SELECT s.day, s.team, s.service_code, sum(s.cost)
    FROM source s JOIN service_budgets b ON s.team = b.team AND s.service_code = b.service_code
    GROUP BY s.day, s.team, s.service_code
),
series AS (
    SELECT DISTINCT team, service_code FROM daily
    UNION
    SELECT team, service_code FROM query_table($budgets) WHERE billing_period = $billing_period
),
first_data_day AS (
    SELECT min(day) AS first_day FROM daily
),
-- The history of each as_of: the last $history_days calendar days up to as_of, not before the
-- first day with any data. Days inside it without a row for a series are days of zero cost.
history_days AS (
    SELECT a.as_of,
           unnest(generate_series(greatest(a.as_of - ($history_days - 1), f.first_day), a.as_of, INTERVAL 1 DAY))::DATE AS day
    FROM as_of_dates a CROSS JOIN first_data_day f
    WHERE f.first_day <= a.as_of
),
history_size AS (
    SELECT as_of, count(*) AS n_days FROM history_days GROUP BY as_of
),
history AS (
    SELECT h.as_of, s.team, s.service_code, h.day, isodow(h.day) AS dow,
           coalesce(d.cost, 0)::DOUBLE AS cost,
           row_number() OVER (PARTITION BY h.as_of, s.team, s.service_code ORDER BY h.day DESC) AS recency
    FROM history_days h
    CROSS JOIN series s
    LEFT JOIN daily d
      ON d.day = h.day AND d.team = s.team AND d.service_code IS NOT DISTINCT FROM s.service_code
),
weekday_means AS (
    SELECT as_of, team, service_code, dow, avg(cost) AS mean_cost
    FROM history GROUP BY ALL
),
shape AS (
    SELECT as_of, team, service_code, avg(mean_cost) AS overall, min(mean_cost) AS lowest
    FROM weekday_means GROUP BY ALL
),
-- Weekday factor = mean cost on that weekday / mean of the seven weekday means. Flat (1) until
-- the history holds $min_weekday_days days (two of each weekday), or when the shape is not a
-- positive cost (zero or credits).
factors AS (
    SELECT w.as_of, w.team, w.service_code, w.dow,
           n.n_days >= $min_weekday_days AND s.overall > 0 AND s.lowest >= 0 AS weekday_adjusted,
           CASE WHEN n.n_days >= $min_weekday_days AND s.overall > 0 AND s.lowest >= 0
                THEN w.mean_cost / s.overall ELSE 1.0 END AS factor
    FROM weekday_means w
    JOIN shape s
      ON s.as_of = w.as_of AND s.team = w.team AND s.service_code IS NOT DISTINCT FROM w.service_code
    JOIN history_size n ON n.as_of = w.as_of
),
-- Level: cost of the last $level_days days divided by the sum of their weekday factors (the
-- de-seasonalized daily run rate; with a full week of factors it is the mean of the last week).
levels AS (
    SELECT h.as_of, h.team, h.service_code,
           sum(h.cost) / sum(f.factor) AS level,
           bool_or(f.weekday_adjusted) AS weekday_adjusted
    FROM history h
    JOIN factors f
      ON f.as_of = h.as_of AND f.team = h.team AND f.service_code IS NOT DISTINCT FROM h.service_code AND f.dow = h.dow
    WHERE h.recency <= $level_days
    GROUP BY ALL
),
remaining_days AS (
    SELECT as_of, unnest(generate_series(as_of + 1, $month_end::DATE, INTERVAL 1 DAY))::DATE AS day
    FROM as_of_dates
    WHERE as_of < $month_end::DATE
),
remaining AS (
    SELECT r.as_of, s.team, s.service_code,
           sum(CASE WHEN l.weekday_adjusted THEN f.factor ELSE 1.0 END) AS factor_days
    FROM remaining_days r
    CROSS JOIN series s
    LEFT JOIN levels l
      ON l.as_of = r.as_of AND l.team = s.team AND l.service_code IS NOT DISTINCT FROM s.service_code
    LEFT JOIN factors f
      ON f.as_of = r.as_of AND f.team = s.team AND f.service_code IS NOT DISTINCT FROM s.service_code AND f.dow = isodow(r.day)
    GROUP BY ALL
),
to_date AS (
    SELECT a.as_of, s.team, s.service_code, coalesce(sum(d.cost), 0) AS actual_to_date
    FROM as_of_dates a
    CROSS JOIN series s
    LEFT JOIN daily d
      ON d.team = s.team AND d.service_code IS NOT DISTINCT FROM s.service_code
     AND d.day BETWEEN $month_start AND a.as_of
    GROUP BY ALL
)
SELECT
    $billing_period::VARCHAR AS billing_period,
    t.team,
    t.service_code,
    CASE WHEN t.service_code IS NULL THEN 'team' ELSE 'service' END AS scope,
    t.as_of,
    (t.as_of - $month_start::DATE + 1)::INTEGER AS days_elapsed,
    CAST(t.actual_to_date AS DECIMAL(18,2)) AS actual_to_date,
    CAST(t.actual_to_date AS DECIMAL(18,2))
        + CAST(round(coalesce(l.level * r.factor_days, 0), 2) AS DECIMAL(18,2)) AS forecast,
    CASE WHEN t.as_of = $month_end::DATE THEN 'complete'
         WHEN l.level IS NULL THEN 'no history'
         WHEN l.weekday_adjusted THEN 'weekday'
         ELSE 'flat' END AS forecast_method,
    l.level AS daily_run_rate
FROM to_date t
LEFT JOIN levels l
  ON l.as_of = t.as_of AND l.team = t.team AND l.service_code IS NOT DISTINCT FROM t.service_code
LEFT JOIN remaining r
  ON r.as_of = t.as_of AND r.team = t.team AND r.service_code IS NOT DISTINCT FROM t.service_code
