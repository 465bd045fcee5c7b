-- efficiency_kpis: per owner (and account), per week and month of one billing period, each
-- efficiency KPI with its numerator and denominator (long format). Definitions: docs/credit_score.md.
-- Reads the CTE `classified` (classified.sql) and the relations $budget_variance and
-- $unit_economics (query_table). Weeks are ISO weeks (Monday-Sunday) whose Sunday falls in the
-- billing period: $week_start is the first such Monday, $week_end the last such Sunday.
-- Parameters: $billing_period, $previous_period, $month_start, $month_end, $week_start, $week_end,
-- $components (STRUCT(kpi, goal, zero_at, weight)[]), $budget_variance, $unit_economics,
-- $team_drivers (STRUCT(team, driver)[]), $default_driver.
WITH daily AS MATERIALIZED (
    -- One scan of the line items: per day, owner and account, the sums every KPI needs (exact DECIMAL).
    SELECT
        billing_period, usage_date, team, usage_account_id,
        coalesce(sum(amortized_cost) FILTER (WHERE graviton_num), 0) AS graviton_coverage_num,
        coalesce(sum(amortized_cost) FILTER (WHERE graviton_den), 0) AS graviton_coverage_den,
        coalesce(sum(public_on_demand_cost) FILTER (WHERE spot_num), 0) AS spot_coverage_num,
        coalesce(sum(public_on_demand_cost) FILTER (WHERE spot_den), 0) AS spot_coverage_den,
        coalesce(sum(amortized_cost) FILTER (WHERE coverage_num), 0) AS commitment_coverage_num,
        coalesce(sum(amortized_cost) FILTER (WHERE coverage_den), 0) AS commitment_coverage_den,
        coalesce(sum(amortized_cost) FILTER (WHERE gp3_num), 0) AS gp3_share_num,
        coalesce(sum(amortized_cost) FILTER (WHERE gp3_den), 0) AS gp3_share_den,
        coalesce(sum(amortized_cost) FILTER (WHERE s3_num), 0) AS s3_storage_class_share_num,
        coalesce(sum(amortized_cost) FILTER (WHERE s3_den), 0) AS s3_storage_class_share_den,
        coalesce(sum(amortized_cost) FILTER (WHERE previous_generation_num), 0) AS previous_generation_share_num,
        coalesce(sum(amortized_cost) FILTER (WHERE previous_generation_den), 0) AS previous_generation_share_den,
        coalesce(sum(amortized_cost) FILTER (WHERE tagging_den AND tagged), 0) AS tagging_compliance_num,
        coalesce(sum(amortized_cost) FILTER (WHERE tagging_den), 0) AS tagging_compliance_den
    FROM classified
    GROUP BY ALL
),
commit_daily AS MATERIALIZED (
    SELECT
        billing_period, usage_date, team, usage_account_id, commitment_arn,
        line_item_type = 'RIFee' AS monthly_fee,
        coalesce(sum(amortized_cost) FILTER (WHERE commitment_used), 0) AS used,
        coalesce(sum(amortized_cost) FILTER (WHERE commitment_unused), 0) AS unused
    FROM classified
    WHERE commitment_used OR commitment_unused
    GROUP BY ALL
),
in_window AS (
    -- The month is its billing period's line items; a week is its seven days by usage date.
    SELECT 'month' AS grain, CAST($month_start AS DATE) AS period_start, * FROM daily
    WHERE billing_period = $billing_period
    UNION ALL
    SELECT 'week', CAST(date_trunc('week', usage_date) AS DATE), * FROM daily
    WHERE usage_date BETWEEN $week_start AND $week_end
),
windows AS (
    SELECT
        grain, period_start,
        CASE grain WHEN 'month' THEN CAST($month_end AS DATE) ELSE period_start + 6 END AS period_end,
        count(DISTINCT usage_date) AS days
    FROM in_window
    GROUP BY ALL
),
line_item_kpis AS (
    SELECT grain, period_start, team, usage_account_id,
        unnest([
            {'kpi': 'graviton_coverage', 'basis': 'amortized', 'num': sum(graviton_coverage_num), 'den': sum(graviton_coverage_den)},
            {'kpi': 'spot_coverage', 'basis': 'public_on_demand', 'num': sum(spot_coverage_num), 'den': sum(spot_coverage_den)},
            {'kpi': 'commitment_coverage', 'basis': 'amortized', 'num': sum(commitment_coverage_num), 'den': sum(commitment_coverage_den)},
            {'kpi': 'gp3_share', 'basis': 'amortized', 'num': sum(gp3_share_num), 'den': sum(gp3_share_den)},
            {'kpi': 's3_storage_class_share', 'basis': 'amortized', 'num': sum(s3_storage_class_share_num), 'den': sum(s3_storage_class_share_den)},
            {'kpi': 'previous_generation_share', 'basis': 'amortized', 'num': sum(previous_generation_share_num), 'den': sum(previous_generation_share_den)},
            {'kpi': 'tagging_compliance', 'basis': 'amortized', 'num': sum(tagging_compliance_num), 'den': sum(tagging_compliance_den)}
        ], recursive := true)
    FROM in_window
    GROUP BY GROUPING SETS (
        (grain, period_start, team, usage_account_id), (grain, period_start, team),
        (grain, period_start, usage_account_id), (grain, period_start)
    )
),
-- Commitment utilization. Commitments are bought centrally, so their unused part is attributed to
-- the owners who draw on each commitment (ARN), in proportion to their use of it in the window;
-- a commitment nobody used in the window stays with the owner of its fee rows.
commit_in_window AS (
    SELECT 'month' AS grain, CAST($month_start AS DATE) AS period_start, team, usage_account_id, commitment_arn,
        CAST(used AS DOUBLE) AS used, CAST(unused AS DOUBLE) AS unused
    FROM commit_daily WHERE billing_period = $billing_period
    UNION ALL
    SELECT 'week', CAST(date_trunc('week', usage_date) AS DATE), team, usage_account_id, commitment_arn,
        CAST(used AS DOUBLE), CAST(unused AS DOUBLE)
    FROM commit_daily WHERE NOT monthly_fee AND usage_date BETWEEN $week_start AND $week_end
    UNION ALL
    -- An RIFee row bills its whole month: at week grain it is spread evenly over the month's days.
    SELECT 'week', CAST(date_trunc('week', d.day) AS DATE), c.team, c.usage_account_id, c.commitment_arn,
        0.0, CAST(c.unused AS DOUBLE) / (date_diff('day', c.month_first, c.month_first + INTERVAL 1 MONTH))
    FROM (SELECT *, CAST(billing_period || '-01' AS DATE) AS month_first FROM commit_daily WHERE monthly_fee) AS c,
        LATERAL (SELECT CAST(unnest(generate_series(c.month_first, CAST(c.month_first + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE), INTERVAL 1 DAY)) AS DATE) AS day) AS d
    WHERE d.day BETWEEN $week_start AND $week_end
),
per_arn AS (
    SELECT grain, period_start, commitment_arn, sum(used) AS arn_used, sum(unused) AS arn_unused
    FROM commit_in_window GROUP BY ALL
),
commit_attributed AS (
    SELECT u.grain, u.period_start, u.team, u.usage_account_id, u.used,
        u.used * p.arn_unused / p.arn_used AS unused
    FROM (SELECT grain, period_start, team, usage_account_id, commitment_arn, sum(used) AS used
          FROM commit_in_window GROUP BY ALL HAVING sum(used) <> 0) AS u
    JOIN per_arn AS p USING (grain, period_start, commitment_arn)
    WHERE p.arn_used <> 0
    UNION ALL
    SELECT c.grain, c.period_start, c.team, c.usage_account_id, 0.0, c.unused
    FROM commit_in_window AS c
    JOIN per_arn AS p USING (grain, period_start, commitment_arn)
    WHERE p.arn_used = 0
),
commit_kpis AS (
    SELECT grain, period_start, team, usage_account_id, 'commitment_utilization' AS kpi, 'amortized' AS basis,
        sum(used) AS num, sum(used) + sum(unused) AS den
    FROM commit_attributed
    GROUP BY GROUPING SETS (
        (grain, period_start, team, usage_account_id), (grain, period_start, team),
        (grain, period_start, usage_account_id), (grain, period_start)
    )
),
-- Budget adherence and unit cost trend: per team (all accounts), from the allocated cost of the
-- insight tables (direct + shared), summed to the organization (team NULL) over the teams they apply to.
drivers AS (
    SELECT unnest(CAST($team_drivers AS STRUCT(team VARCHAR, driver VARCHAR)[]), recursive := true)
),
team_days AS (
    SELECT u.period_start AS day, u.team, u.billing_period,
        sum(u.allocated_cost) AS cost,
        sum(CASE coalesce(d.driver, $default_driver)
            WHEN 'orders' THEN CAST(u.orders AS DOUBLE)
            WHEN 'active_users' THEN u.active_users
            WHEN 'revenue' THEN CAST(u.revenue AS DOUBLE)
        END) AS driver
    FROM query_table($unit_economics) AS u
    LEFT JOIN drivers AS d ON d.team = u.team
    WHERE u.grain = 'day' AND u.billing_period IN ($previous_period, $billing_period)
    GROUP BY ALL
),
team_months AS (
    SELECT u.billing_period, u.team,
        sum(u.allocated_cost) AS cost,
        sum(CASE coalesce(d.driver, $default_driver)
            WHEN 'orders' THEN CAST(u.orders AS DOUBLE)
            WHEN 'active_users' THEN u.active_users
            WHEN 'revenue' THEN CAST(u.revenue AS DOUBLE)
        END) AS driver
    FROM query_table($unit_economics) AS u
    LEFT JOIN drivers AS d ON d.team = u.team
    WHERE u.grain = 'month' AND u.billing_period IN ($previous_period, $billing_period)
    GROUP BY ALL
),
team_weeks AS (
    SELECT CAST(date_trunc('week', day) AS DATE) AS period_start, team, sum(cost) AS cost, sum(driver) AS driver
    FROM team_days GROUP BY ALL
),
unit_cost_team AS (
    -- num = this period's cost; den = what its volume cost at the previous period's unit cost.
    SELECT 'week' AS grain, w.period_start, w.team, CAST(w.cost AS DOUBLE) AS num,
        CASE WHEN w.driver > 0 AND p.driver > 0 AND p.cost > 0 THEN w.driver * CAST(p.cost AS DOUBLE) / p.driver END AS den
    FROM team_weeks AS w
    LEFT JOIN team_weeks AS p ON p.team = w.team AND p.period_start = w.period_start - 7
    WHERE w.period_start BETWEEN $week_start AND $week_end
    UNION ALL
    SELECT 'month', CAST($month_start AS DATE), m.team, CAST(m.cost AS DOUBLE),
        CASE WHEN m.driver > 0 AND p.driver > 0 AND p.cost > 0 THEN m.driver * CAST(p.cost AS DOUBLE) / p.driver END
    FROM team_months AS m
    LEFT JOIN team_months AS p ON p.team = m.team AND p.billing_period = $previous_period
    WHERE m.billing_period = $billing_period
),
budgets AS (
    SELECT billing_period, team, budget, days_elapsed, days_in_month, actual_mtd
    FROM query_table($budget_variance)
    WHERE scope = 'team' AND billing_period IN ($previous_period, $billing_period)
),
data_days AS (
    SELECT DISTINCT day FROM team_days WHERE day BETWEEN $week_start AND $week_end
),
budget_team AS (
    -- Week: the team's allocated cost over the week's days with data against the budget pro rata
    -- of those days (each day 1/days_in_month of its own month's budget).
    SELECT 'week' AS grain, CAST(date_trunc('week', dd.day) AS DATE) AS period_start, b.team,
        -- Exact decimal sum, and doubles summed in a fixed order: the same inputs give the same bits.
        CAST(sum(coalesce(t.cost, 0)) AS DOUBLE) AS num,
        sum(CAST(b.budget AS DOUBLE) / b.days_in_month ORDER BY dd.day) AS den
    FROM data_days AS dd
    JOIN budgets AS b ON b.billing_period = strftime(dd.day, '%Y-%m') AND b.budget > 0
    LEFT JOIN team_days AS t ON t.team = b.team AND t.day = dd.day
    GROUP BY ALL
    UNION ALL
    -- Month: actual to date against the budget pro rata of the days elapsed.
    SELECT 'month', CAST($month_start AS DATE), team, CAST(actual_mtd AS DOUBLE),
        CAST(budget AS DOUBLE) * days_elapsed / days_in_month
    FROM budgets
    WHERE billing_period = $billing_period AND budget > 0
),
team_kpis AS (
    SELECT grain, period_start, team, CAST(NULL AS VARCHAR) AS usage_account_id, kpi, basis, num, den
    FROM (
        SELECT *, 'unit_cost_trend' AS kpi, 'allocated' AS basis FROM unit_cost_team
        UNION ALL
        SELECT *, 'budget_adherence', 'allocated' FROM budget_team
    )
    UNION ALL
    SELECT grain, period_start, NULL, NULL, kpi, basis, sum(num ORDER BY team), sum(den ORDER BY team)
    FROM (
        SELECT *, 'unit_cost_trend' AS kpi, 'allocated' AS basis FROM unit_cost_team
        UNION ALL
        SELECT *, 'budget_adherence', 'allocated' FROM budget_team
    )
    WHERE den > 0
    GROUP BY ALL
),
frame AS (
    -- Every owner/account group with line items in the window gets every KPI, applicable or not.
    SELECT DISTINCT grain, period_start, team, usage_account_id FROM line_item_kpis
),
all_kpis AS (
    SELECT grain, period_start, team, usage_account_id, kpi, basis,
        CAST(num AS DECIMAL(38,10)) AS num, CAST(den AS DECIMAL(38,10)) AS den,
        CASE WHEN den > 0 THEN CAST(num AS DOUBLE) / CAST(den AS DOUBLE) END AS value
    FROM line_item_kpis
    UNION ALL
    SELECT f.grain, f.period_start, f.team, f.usage_account_id, 'commitment_utilization', 'amortized',
        CAST(coalesce(c.num, 0) AS DECIMAL(38,10)), CAST(coalesce(c.den, 0) AS DECIMAL(38,10)),
        CASE WHEN c.den > 0 THEN c.num / c.den END
    FROM frame AS f
    LEFT JOIN commit_kpis AS c
        ON c.grain = f.grain AND c.period_start = f.period_start
        AND c.team IS NOT DISTINCT FROM f.team AND c.usage_account_id IS NOT DISTINCT FROM f.usage_account_id
    UNION ALL
    SELECT f.grain, f.period_start, f.team, NULL, k.kpi, 'allocated',
        CAST(coalesce(t.num, 0) AS DECIMAL(38,10)), CAST(coalesce(t.den, 0) AS DECIMAL(38,10)),
        CASE WHEN t.den > 0 THEN t.num / t.den END
    FROM frame AS f
    CROSS JOIN (VALUES ('unit_cost_trend'), ('budget_adherence')) AS k(kpi)
    LEFT JOIN team_kpis AS t
        ON t.grain = f.grain AND t.period_start = f.period_start AND t.kpi = k.kpi
        AND t.team IS NOT DISTINCT FROM f.team
    WHERE f.usage_account_id IS NULL
),
components AS (
    SELECT unnest(CAST($components AS STRUCT(kpi VARCHAR, goal DOUBLE, zero_at DOUBLE, weight DOUBLE)[]), recursive := true)
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    k.grain,
    k.period_start,
    w.period_end,
    w.days,
    k.team,
    k.usage_account_id,
    k.kpi,
    k.basis AS cost_basis,
    CAST(round(k.num, 2) AS DECIMAL(18,2)) AS numerator,
    CAST(round(k.den, 2) AS DECIMAL(18,2)) AS denominator,
    k.value,
    c.goal,
    k.value IS NOT NULL AS applies
FROM all_kpis AS k
JOIN windows AS w USING (grain, period_start)
LEFT JOIN components AS c USING (kpi)
ORDER BY k.grain, k.period_start, k.team NULLS FIRST, k.usage_account_id NULLS FIRST, k.kpi
