-- The anomalies of cost_anomalies (see cost_anomalies.sql): cost increases per owner x service
-- (x account) that its own recent history does not explain, one row per event with its days, costs
-- and score. Method: docs/unit_economics.md. cost_anomalies.sql reads it as the CTE `reported`;
-- build_cost_anomalies also runs it alone first, for the services and accounts whose line items
-- can be behind an anomaly (only those are read for the resources).
--
-- Parameters: $team_cost_daily (relation name); $history_start (DATE: first day read), $flag_start
--   (DATE: first day an event may start; events are traced back to it), $period_start, $period_end
--   (DATE: the billing period); $by_account (series per account, else per team x service);
--   $split_shared (series on direct cost, the shared part in series of its own owned by
--   $shared_owner; else direct + shared); $baseline_weeks (4), $baseline_days (= 7 * $baseline_weeks),
--   $min_baseline_weeks (2), $min_error_days (7); $threshold (robust z, 5.5); $min_impact (money per
--   day, 50); $min_relative (excess / expected, 0.2).
WITH
source AS (
    SELECT usage_date AS day, team, service_code,
           CASE WHEN $by_account THEN usage_account_id END AS usage_account_id,
           direct_cost, shared_cost
    FROM query_table($team_cost_daily)
    WHERE usage_date BETWEEN $history_start AND $period_end
),
daily AS (
    SELECT day, team, service_code, usage_account_id,
           sum(CASE WHEN $split_shared THEN direct_cost ELSE direct_cost + shared_cost END) AS cost
    FROM source
    GROUP BY ALL
    UNION ALL
    SELECT day, $shared_owner, service_code, usage_account_id, sum(shared_cost)
    FROM source
    WHERE $split_shared
    GROUP BY ALL
),
bounds AS (
    SELECT min(day) AS first_day, max(day) AS last_day FROM daily
),
-- Only series with some cost where events may be: others cannot have an increase.
series AS (
    SELECT team, service_code, usage_account_id
    FROM daily
    WHERE day >= $flag_start
    GROUP BY ALL
    HAVING bool_or(cost <> 0)
),
-- Every series on every day from the first to the last day with data: a day without a row is a
-- day of zero cost, not a missing observation.
spine AS (
    SELECT s.team, s.service_code, s.usage_account_id, d.day, isodow(d.day) AS dow,
           coalesce(x.cost, 0) AS amount,
           coalesce(x.cost, 0)::DOUBLE AS cost
    FROM series s
    CROSS JOIN (
        SELECT unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS day FROM bounds
    ) d
    LEFT JOIN daily x
      ON x.day = d.day AND x.team = s.team
     AND x.service_code IS NOT DISTINCT FROM s.service_code
     AND x.usage_account_id IS NOT DISTINCT FROM s.usage_account_id
),
-- Two expectations of each day's cost: the median of the same weekday in the preceding
-- $baseline_weeks weeks (series with a weekly pattern) and the median of the preceding
-- $baseline_days days (series without one: eight times the points, a much steadier estimate).
-- On the first of a month each is at least the cost of the previous month's first: monthly
-- fees, support, tax and other charges dated to the first recur there, not on a weekday.
expectations AS (
    SELECT * EXCLUDE (weekday_median, flat_median, previous_first),
           CASE WHEN day(day) = 1 THEN greatest(weekday_median, previous_first) ELSE weekday_median END AS weekday_expected,
           CASE WHEN day(day) = 1 THEN greatest(flat_median, previous_first) ELSE flat_median END AS flat_expected
    FROM (
        SELECT *,
               median(cost) OVER same_weekday AS weekday_median,
               count(*) OVER same_weekday AS baseline_points,
               median(cost) OVER recent AS flat_median,
               lag(cost) OVER (
                   PARTITION BY team, service_code, usage_account_id, day(day) = 1 ORDER BY day
               ) AS previous_first
        FROM spine
        WINDOW same_weekday AS (
                   PARTITION BY team, service_code, usage_account_id, dow
                   ORDER BY day ROWS BETWEEN $baseline_weeks PRECEDING AND 1 PRECEDING
               ),
               recent AS (
                   PARTITION BY team, service_code, usage_account_id
                   ORDER BY day ROWS BETWEEN $baseline_days PRECEDING AND 1 PRECEDING
               )
    )
),
-- Scale of each: 1.4826 x the median absolute error of that expectation over the preceding
-- $baseline_days days (a robust standard deviation of the day-ahead error). Each day uses the
-- expectation whose recent errors were smaller.
scales AS (
    SELECT *,
           1.4826 * median(weekday_error) OVER recent AS weekday_sigma,
           1.4826 * median(flat_error) OVER recent AS flat_sigma,
           count(weekday_error) OVER recent AS error_points
    FROM (
        SELECT *,
               CASE WHEN baseline_points >= $min_baseline_weeks THEN abs(cost - weekday_expected) END AS weekday_error,
               CASE WHEN baseline_points >= $min_baseline_weeks THEN abs(cost - flat_expected) END AS flat_error
        FROM expectations
    )
    WINDOW recent AS (
        PARTITION BY team, service_code, usage_account_id
        ORDER BY day ROWS BETWEEN $baseline_days PRECEDING AND 1 PRECEDING
    )
),
scaled AS (
    SELECT *,
           CASE WHEN flat_sigma <= weekday_sigma THEN flat_expected ELSE weekday_expected END AS expected,
           least(flat_sigma, weekday_sigma) AS sigma
    FROM scales
),
excesses AS (
    SELECT *,
           cost - expected AS excess,
           coalesce(baseline_points >= $min_baseline_weeks AND error_points >= $min_error_days, false) AS ready
    FROM scaled
),
rules AS (
    SELECT *,
           ready AND excess >= $min_impact AND excess >= $threshold * sigma
               AND excess >= $min_relative * abs(expected) AS one_day_rule,
           lag(excess) OVER by_day AS previous_excess,
           lag(expected) OVER by_day AS previous_expected,
           lag(ready) OVER by_day AS previous_ready,
           lag(ready AND excess >= $min_impact AND excess >= $threshold * sigma
               AND excess >= $min_relative * abs(expected)) OVER by_day AS previous_one_day_rule
    FROM excesses
    WINDOW by_day AS (PARTITION BY team, service_code, usage_account_id ORDER BY day)
),
-- Two-day rule: two consecutive days above expectation, neither anomalous alone (else a spike
-- would drag the next day along), whose summed excess passes the same tests (the threshold
-- scaled by sqrt 2): a moderate anomaly is caught on its second day.
flags AS (
    SELECT *,
           NOT one_day_rule AND NOT coalesce(previous_one_day_rule, false)
               AND ready AND coalesce(previous_ready, false)
               AND excess > 0 AND previous_excess > 0
               AND excess + previous_excess >= $min_impact
               AND excess + previous_excess >= $threshold * sqrt(2) * sigma
               AND excess + previous_excess >= $min_relative * (abs(expected) + abs(previous_expected))
           AS two_day_rule
    FROM rules
),
marked AS (
    SELECT *,
           one_day_rule OR two_day_rule AS flagged,
           -- The day before a two-day detection is the anomaly's onset: part of the event.
           one_day_rule OR two_day_rule
               OR (coalesce(lead(two_day_rule) OVER by_day, false) AND excess > 0) AS in_event
    FROM flags
    WINDOW by_day AS (PARTITION BY team, service_code, usage_account_id ORDER BY day)
),
islands AS (
    SELECT *,
           day - (row_number() OVER (PARTITION BY team, service_code, usage_account_id ORDER BY day))::INTEGER AS island
    FROM marked
    WHERE in_event AND day >= $flag_start
),
events AS (
    SELECT team, service_code, usage_account_id,
           min(day) AS start_date,
           min(day) FILTER (WHERE flagged) AS first_seen,
           max(day) AS last_seen,
           count(*)::INTEGER AS days,
           sum(expected) AS expected_cost,
           sum(amount) AS actual_cost,
           max(excess / sigma) FILTER (WHERE sigma > 0) AS max_score,
           arg_min(CASE WHEN one_day_rule THEN 'one_day' ELSE 'two_day' END, day) FILTER (WHERE flagged) AS detected_by
    FROM islands
    GROUP BY team, service_code, usage_account_id, island
)
SELECT e.*, e.last_seen = b.last_day AS ongoing,
       least($baseline_days, e.start_date - b.first_day)::INTEGER AS baseline_span
FROM events e CROSS JOIN bounds b
WHERE e.first_seen IS NOT NULL AND e.last_seen >= $period_start AND e.first_seen <= $period_end
