-- business_metrics_daily: daily business drivers per team and product, one row per (date, team, product).
-- Partitioned by billing_period ('YYYY-MM', the month of date), like the cost tables it is joined to.
-- Parameters: $metrics_daily (relation name: a file loaded by business_metrics.load.load_metrics_daily
--   that passed business_metrics.validate.validate_metrics_daily); $periods VARCHAR[], the billing
--   periods to materialize.
SELECT
    strftime(date, '%Y-%m')                  AS billing_period,
    CAST(date AS DATE)                       AS date,
    CAST(team AS VARCHAR)                    AS team,
    CAST(product AS VARCHAR)                 AS product,
    CAST(revenue AS DECIMAL(18,4))           AS revenue,
    CAST(orders AS BIGINT)                   AS orders,
    CAST(active_users AS BIGINT)             AS active_users,
    CAST(requests AS BIGINT)                 AS requests,
    CAST(currency AS VARCHAR)                AS currency
FROM query_table($metrics_daily)
WHERE list_contains(CAST($periods AS VARCHAR[]), strftime(date, '%Y-%m'))
