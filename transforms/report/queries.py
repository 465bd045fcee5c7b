"""The SQL behind the showback reports: small, aggregated results for a month's teams.

Each section is one query for every team asked for (``$teams``, a list) rather than one per team:
a month's reports read each table once, whatever the number of teams. Rows come back ordered by
``team`` first, then in the section's own order, so they split into per-team lists as they are
read. Every value is bound (``$teams``, ``$period``, ``$previous``, ``$first``, ``$limit``); the
relations are the lake tables by name (views on the connection). Money is the amortized basis (what
budgets and unit costs use), summed exactly in DECIMAL.
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
    team,
    list(DISTINCT product ORDER BY product) FILTER (WHERE product IS NOT NULL) AS products,
    list(DISTINCT cost_center ORDER BY cost_center) FILTER (WHERE cost_center IS NOT NULL) AS cost_centers,
    max(usage_date) AS last_day
FROM cost_allocation
WHERE list_contains($teams, team) AND billing_period = $period
GROUP BY team
ORDER BY team
"""

MONTHLY = """
SELECT team, billing_period, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
FROM cost_allocation
WHERE list_contains($teams, team) AND billing_period BETWEEN $first AND $period
GROUP BY ALL
ORDER BY team, billing_period
"""

DAILY = """
SELECT team, usage_date, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
FROM cost_allocation
WHERE list_contains($teams, team) AND billing_period = $period
GROUP BY ALL
ORDER BY team, usage_date
"""

SERVICES = """
WITH cur AS (
    SELECT team, service_code, sum(direct_amortized_cost) AS direct, sum(shared_amortized_cost) AS shared
    FROM cost_allocation
    WHERE list_contains($teams, team) AND billing_period = $period
    GROUP BY ALL
),
prev AS (
    SELECT team, service_code, sum(direct_amortized_cost + shared_amortized_cost) AS previous
    FROM cost_allocation
    WHERE list_contains($teams, team) AND billing_period = $previous
    GROUP BY ALL
)
SELECT cur.team, cur.service_code, cur.direct, cur.shared, cur.direct + cur.shared AS total, prev.previous
FROM cur
LEFT JOIN prev ON prev.team = cur.team AND prev.service_code IS NOT DISTINCT FROM cur.service_code
ORDER BY cur.team, total DESC, cur.service_code
"""

DIRECT_BY_METHOD = """
SELECT team, allocation_method AS method, sum(direct_amortized_cost) AS amount
FROM cost_allocation
WHERE list_contains($teams, team) AND billing_period = $period AND pool IS NULL
GROUP BY ALL
ORDER BY team, amount DESC, method
"""

# The team's share of each pool, and how it was computed. applied_method differs from method on
# days when every driver was zero and the pool fell back to an even split.
SHARED_SOURCES = """
SELECT
    recipient AS team,
    pool,
    min(method) AS method,
    min(driver) AS driver,
    sum(amount) AS amount,
    sum(pool_amount) AS pool_amount,
    CASE WHEN sum(pool_amount) <> 0 THEN sum(amount) / sum(pool_amount) END AS share_of_pool,
    count(*) FILTER (WHERE applied_method <> method) AS fallback_days
FROM shared_cost_split
WHERE list_contains($teams, recipient) AND billing_period = $period AND cost_basis = 'amortized'
GROUP BY recipient, pool
ORDER BY team, amount DESC, pool
"""

UNIT_DAILY = """
SELECT team, period_start AS day, product, cost_per_order, cost_per_active_user
FROM unit_economics
WHERE grain = 'day' AND list_contains($teams, team) AND billing_period = $period
ORDER BY team, product, day
"""

UNIT_MONTHLY = """
SELECT
    team, billing_period, product, allocated_cost, revenue, orders, active_users,
    cost_per_order, cost_per_order_null_reason, cost_per_active_user, cloud_cost_to_revenue, gross_margin_ratio
FROM unit_economics
WHERE grain = 'month' AND list_contains($teams, team) AND billing_period BETWEEN $first AND $period
ORDER BY team, product, billing_period
"""

BUDGET = """
SELECT
    team, scope, service_code, budget, actual_mtd, forecast, forecast_method, variance, variance_ratio,
    budget_used_ratio, status, as_of, days_elapsed, days_in_month
FROM budget_variance
WHERE list_contains($teams, team) AND billing_period = $period
ORDER BY team, scope = 'team' DESC, service_code
"""

ACCURACY = """
SELECT team, checkpoint_day, as_of, forecast, actual, forecast_accuracy, forecast_method
FROM forecast_accuracy
WHERE list_contains($teams, team) AND billing_period = $period AND scope = 'team'
ORDER BY team, checkpoint_day
"""

ANOMALIES = """
SELECT
    team, service_code, usage_account_id, start_date, last_seen, days, ongoing, expected_cost, actual_cost, impact,
    list_transform(top_resources, lambda r: r.resource_id) AS top_resource_ids
FROM cost_anomalies
WHERE list_contains($teams, team) AND billing_period = $period
ORDER BY team, impact DESC, start_date
"""

# The month's credit score of each team, one row per component, best contribution first.
CREDIT_COMPONENTS = """
SELECT team, component, value, goal, applies, score, effective_weight, contribution, contribution_change,
       composite, previous_composite, composite_change
FROM credit_score
WHERE list_contains($teams, team) AND billing_period = $period AND grain = 'month'
ORDER BY team, applies DESC, contribution DESC NULLS LAST, component
"""

# The weeks of the month (a week belongs to the month of its Sunday): the composite each week.
CREDIT_WEEKS = """
SELECT team, period_start AS week_start, min(composite) AS composite, min(composite_change) AS composite_change
FROM credit_score
WHERE list_contains($teams, team) AND billing_period = $period AND grain = 'week'
GROUP BY team, period_start
ORDER BY team, period_start
"""

# Each team's first $limit recommendations by priority.
RECOMMENDATIONS = """
SELECT team, priority, sprint, action, category, service_code, estimated_monthly_savings, potential_monthly_savings,
       resource_count, top_resources
FROM recommendations
WHERE list_contains($teams, team) AND billing_period = $period
QUALIFY row_number() OVER (PARTITION BY team ORDER BY priority, action) <= $limit
ORDER BY team, priority, action
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
