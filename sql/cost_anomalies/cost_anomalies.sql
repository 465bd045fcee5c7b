-- cost_anomalies: cost increases per owner x service (x account) that its own recent history
-- does not explain, with the resources behind them. Method: docs/unit_economics.md.
-- Follows the CTE `reported` (events.sql: one row per anomaly).
--
-- Parameters: those of events.sql; $line_item_costs (relation name); $billing_period;
--   $event_services, $event_accounts (VARCHAR[]: the services and accounts of the reported
--   anomalies, from events.sql run first: line items of others cannot be behind one, so they are
--   left out before anything is computed per line item); $top_n (resources listed per anomaly).
WITH
-- Resources behind each anomaly: their cost on the anomaly's days minus their baseline for those
-- days, the baseline of a day being the resource's mean cost on the same weekday over the
-- (up to) $baseline_days days before the anomaly started.
resource_weekdays AS (
    SELECT e.team, e.service_code, e.usage_account_id, e.start_date,
           coalesce(l.resource_id, '(no resource id)') AS resource_id,
           isodow(l.usage_date) AS dow,
           coalesce(sum(l.cost) FILTER (WHERE l.usage_date >= e.start_date), 0) AS anomaly_cost,
           coalesce(sum(l.cost) FILTER (WHERE l.usage_date < e.start_date), 0) AS baseline_cost
    FROM query_table($line_item_costs) l
    JOIN reported e
      ON l.service_code = e.service_code
     AND l.usage_date BETWEEN e.start_date - e.baseline_span AND e.last_seen
     AND (e.team = $shared_owner OR l.team = e.team)
     AND (NOT $by_account OR l.usage_account_id = e.usage_account_id)
    WHERE l.usage_date BETWEEN $flag_start::DATE - $baseline_days AND $period_end
      -- Scalar filters on the line items' own columns, so DuckDB applies them before the owner of
      -- each line item is worked out (a join or IN (SELECT ...) on `reported` is applied after).
      AND list_contains(CAST($event_services AS VARCHAR[]), l.service_code)
      AND (NOT $by_account OR list_contains(CAST($event_accounts AS VARCHAR[]), l.usage_account_id))
    GROUP BY ALL
),
-- Per anomaly and weekday: how many of its days, and how many baseline days, fall on it.
event_weekdays AS (
    SELECT team, service_code, usage_account_id, start_date, isodow(d) AS dow,
           count(*) FILTER (WHERE d >= start_date) AS event_days,
           count(*) FILTER (WHERE d < start_date) AS baseline_days
    FROM (
        SELECT team, service_code, usage_account_id, start_date,
               unnest(generate_series(start_date - baseline_span, last_seen, INTERVAL 1 DAY))::DATE AS d
        FROM reported
    )
    GROUP BY ALL
),
resource_costs AS (
    SELECT r.team, r.service_code, r.usage_account_id, r.start_date, r.resource_id,
           sum(r.anomaly_cost) AS anomaly_cost,
           sum(r.anomaly_cost)
               - sum(CASE WHEN w.baseline_days > 0 THEN r.baseline_cost / w.baseline_days * w.event_days ELSE 0 END)
               AS increase
    FROM resource_weekdays r
    JOIN event_weekdays w
      ON w.team = r.team AND w.service_code IS NOT DISTINCT FROM r.service_code
     AND w.usage_account_id IS NOT DISTINCT FROM r.usage_account_id AND w.start_date = r.start_date AND w.dow = r.dow
    GROUP BY ALL
),
ranked AS (
    SELECT *,
           row_number() OVER (
               PARTITION BY team, service_code, usage_account_id, start_date ORDER BY increase DESC, resource_id
           ) AS rank
    FROM resource_costs
),
top_resources AS (
    SELECT team, service_code, usage_account_id, start_date,
           list(struct_pack(
                    resource_id := resource_id,
                    cost := CAST(anomaly_cost AS DECIMAL(18,2)),
                    increase := CAST(increase AS DECIMAL(18,2))
                ) ORDER BY rank) AS top_resources
    FROM ranked
    WHERE rank <= $top_n AND increase > 0
    GROUP BY ALL
)
SELECT
    concat_ws('|', r.team, r.service_code, coalesce(r.usage_account_id, '*'), r.start_date::VARCHAR) AS anomaly_id,
    $billing_period::VARCHAR AS billing_period,
    r.team,
    r.service_code,
    r.usage_account_id,
    r.start_date,
    r.first_seen,
    r.last_seen,
    r.days,
    r.ongoing,
    r.detected_by,
    CAST(r.expected_cost AS DECIMAL(18,2)) AS expected_cost,
    CAST(r.actual_cost AS DECIMAL(18,2)) AS actual_cost,
    CAST(r.actual_cost AS DECIMAL(18,2)) - CAST(r.expected_cost AS DECIMAL(18,2)) AS impact,
    r.max_score,
    coalesce(t.top_resources, []) AS top_resources
FROM reported r
LEFT JOIN top_resources t
  ON t.team = r.team AND t.service_code IS NOT DISTINCT FROM r.service_code
 AND t.usage_account_id IS NOT DISTINCT FROM r.usage_account_id AND t.start_date = r.start_date
ORDER BY impact DESC, anomaly_id
