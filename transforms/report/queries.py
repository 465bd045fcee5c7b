"""The SQL behind a showback report: small, aggregated results for one team and month.

Every value is bound (``$team``, ``$period``, ``$previous``, ``$first``); the relations are the
lake tables by name (views on the connection). Money is the amortized basis (what budgets and unit
costs use), summed exactly in DECIMAL and returned as cents.
"""

MONTHS = """
SELECT DISTINCT billing_period FROM cost_allocation ORDER BY billing_period
"""

TEAMS = """
SELECT DISTINCT team FROM cost_allocation
WHERE billing_period = $period AND team IS NOT NULL
ORDER BY team
"""

CURRENCIES = """
SELECT DISTINCT currency FROM cost_allocation WHERE billing_period = $period ORDER BY currency
"""

OWNER = """
SELECT
    list(DISTINCT product ORDER BY product) FILTER (WHERE product IS NOT NULL) AS products,
    list(DISTINCT cost_center ORDER BY cost_center) FILTER (WHERE cost_center IS NOT NULL) AS cost_centers,
    max(usage_date) AS last_day
FROM cost_allocation
WHERE team = $team AND billing_period = $period
"""

MONTHLY = """
SELECT billing_period, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
FROM cost_allocation
WHERE team = $team AND billing_period BETWEEN $first AND $period
GROUP BY ALL
ORDER BY billing_period
"""

DAILY = """
SELECT usage_date, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
FROM cost_allocation
WHERE team = $team AND billing_period = $period
GROUP BY ALL
ORDER BY usage_date
"""

SERVICES = """
WITH cur AS (
    SELECT service_code, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
    FROM cost_allocation
    WHERE team = $team AND billing_period = $period
    GROUP BY ALL
),
prev AS (
    SELECT service_code, sum(direct_amortized_cost + shared_amortized_cost) AS previous
    FROM cost_allocation
    WHERE team = $team AND billing_period = $previous
    GROUP BY ALL
)
SELECT cur.service_code, cur.direct, cur.shared, cur.direct + cur.shared AS total, prev.previous
FROM cur
LEFT JOIN prev ON prev.service_code IS NOT DISTINCT FROM cur.service_code
ORDER BY total DESC, cur.service_code
"""

DIRECT_BY_METHOD = """
SELECT allocation_method AS method, sum(direct_amortized_cost) AS amount
FROM cost_allocation
WHERE team = $team AND billing_period = $period AND pool IS NULL
GROUP BY ALL
ORDER BY amount DESC, method
"""

# The team's share of each pool, and how it was computed. applied_method differs from method on
# days when every driver was zero and the pool fell back to an even split.
SHARED_SOURCES = """
SELECT
    pool,
    min(method) AS method,
    min(driver) AS driver,
    sum(amount) AS amount,
    sum(pool_amount) AS pool_amount,
    CASE WHEN sum(pool_amount) <> 0 THEN sum(amount) / sum(pool_amount) END AS share_of_pool,
    count(*) FILTER (WHERE applied_method <> method) AS fallback_days
FROM shared_cost_split
WHERE recipient = $team AND billing_period = $period AND cost_basis = 'amortized'
GROUP BY pool
ORDER BY amount DESC, pool
"""

UNIT_DAILY = """
SELECT period_start AS day, product, cost_per_order, cost_per_active_user
FROM unit_economics
WHERE grain = 'day' AND team = $team AND billing_period = $period
ORDER BY product, day
"""

UNIT_MONTHLY = """
SELECT
    billing_period, product, allocated_cost, revenue, orders, active_users,
    cost_per_order, cost_per_order_null_reason, cost_per_active_user, cloud_cost_to_revenue, gross_margin_ratio
FROM unit_economics
WHERE grain = 'month' AND team = $team AND billing_period BETWEEN $first AND $period
ORDER BY product, billing_period
"""

BUDGET = """
SELECT
    scope, service_code, budget, actual_mtd, forecast, forecast_method, variance, variance_ratio,
    budget_used_ratio, status, as_of, days_elapsed, days_in_month
FROM budget_variance
WHERE team = $team AND billing_period = $period
ORDER BY scope = 'team' DESC, service_code
"""

ACCURACY = """
SELECT checkpoint_day, as_of, forecast, actual, forecast_accuracy, forecast_method
FROM forecast_accuracy
WHERE team = $team AND billing_period = $period AND scope = 'team'
ORDER BY checkpoint_day
"""

ANOMALIES = """
SELECT
    service_code, usage_account_id, start_date, last_seen, days, ongoing, expected_cost, actual_cost, impact,
    list_transform(top_resources, lambda r: r.resource_id) AS top_resource_ids
FROM cost_anomalies
WHERE team = $team AND billing_period = $period
ORDER BY impact DESC, start_date
"""

# The month's credit score of the team, one row per component, best contribution first.
CREDIT_COMPONENTS = """
SELECT component, value, goal, applies, score, effective_weight, contribution, contribution_change,
       composite, previous_composite, composite_change
FROM credit_score
WHERE team = $team AND billing_period = $period AND grain = 'month'
ORDER BY applies DESC, contribution DESC NULLS LAST, component
"""

# The weeks of the month (a week belongs to the month of its Sunday): the composite each week.
CREDIT_WEEKS = """
SELECT period_start AS week_start, min(composite) AS composite, min(composite_change) AS composite_change
FROM credit_score
WHERE team = $team AND billing_period = $period AND grain = 'week'
GROUP BY period_start
ORDER BY period_start
"""

RECOMMENDATIONS = """
SELECT priority, sprint, action, category, service_code, estimated_monthly_savings, potential_monthly_savings,
       resource_count, top_resources
FROM recommendations
WHERE team = $team AND billing_period = $period
ORDER BY priority
LIMIT $limit
"""

# The month's overview of every team (the Dagster summary): allocated cost, then budgets.
MONTH_COST = """
SELECT team, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared,
       sum(direct_amortized_cost + shared_amortized_cost) AS total
FROM cost_allocation
WHERE billing_period = $period AND team IS NOT NULL
GROUP BY ALL
ORDER BY total DESC, team
"""

MONTH_BUDGETS = """
SELECT team, budget, forecast, status FROM budget_variance WHERE billing_period = $period AND scope = 'team'
"""
