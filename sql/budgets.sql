-- budgets: monthly budgets per team (service_code NULL) or per team and AWS service, amortized cost basis.
-- One row per (billing_period, team, service_code); partitioned by billing_period ('YYYY-MM').
-- Parameters: $budgets (relation name: a file loaded by business_metrics.load.load_budgets that
--   passed business_metrics.validate.validate_budgets); $periods VARCHAR[], the billing periods
--   to materialize.
SELECT
    CAST(billing_period AS VARCHAR)          AS billing_period,
    CAST(team AS VARCHAR)                    AS team,
    CAST(service_code AS VARCHAR)            AS service_code,
    CAST(budget AS DECIMAL(18,2))            AS budget,
    CAST(currency AS VARCHAR)                AS currency
FROM query_table($budgets)
WHERE list_contains(CAST($periods AS VARCHAR[]), billing_period)
