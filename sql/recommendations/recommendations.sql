-- recommendations: per owner, what to do to reach each efficiency goal, with the estimated monthly
-- savings at goal, the resources behind it and its priority (rank by savings within the owner).
-- Method and saving rates: docs/credit_score.md. Reads the CTE `classified` (one billing period).
-- Savings at goal = base cost x (fraction of it to move to reach the goal) x saving rate, scaled to
-- a whole month when the period holds fewer days of data ($days_in_month / days with data).
-- Parameters: $billing_period, $days_in_month, $goals (STRUCT(kpi, goal)[]), $rates
-- (STRUCT(name, rate)[]), $top_n, $min_savings, $resources.
WITH goals AS (
    SELECT unnest(CAST($goals AS STRUCT(kpi VARCHAR, goal DOUBLE)[]), recursive := true)
),
rates AS (
    SELECT unnest(CAST($rates AS STRUCT(name VARCHAR, rate DOUBLE)[]), recursive := true)
),
scale AS (
    SELECT CAST($days_in_month AS DOUBLE) / count(DISTINCT usage_date) AS month_factor FROM classified
),
team_kpis AS (
    -- The owner's KPIs over all its accounts, as in efficiency_kpis (month grain).
    SELECT team,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE graviton_num), 0) AS DOUBLE) AS graviton_num,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE graviton_den), 0) AS DOUBLE) AS graviton_den,
        CAST(coalesce(sum(public_on_demand_cost) FILTER (WHERE spot_num), 0) AS DOUBLE) AS spot_num,
        CAST(coalesce(sum(public_on_demand_cost) FILTER (WHERE spot_den), 0) AS DOUBLE) AS spot_den,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE coverage_num), 0) AS DOUBLE) AS coverage_num,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE coverage_den), 0) AS DOUBLE) AS coverage_den,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE gp3_num), 0) AS DOUBLE) AS gp3_num,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE gp3_den), 0) AS DOUBLE) AS gp3_den,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE s3_num), 0) AS DOUBLE) AS s3_num,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE s3_den), 0) AS DOUBLE) AS s3_den,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE previous_generation_num), 0) AS DOUBLE) AS previous_generation_num,
        CAST(coalesce(sum(amortized_cost) FILTER (WHERE previous_generation_den), 0) AS DOUBLE) AS previous_generation_den
    FROM classified
    GROUP BY team
),
candidates AS (
    -- One row per line item a recommendation would change, keyed by what the recommendation says.
    SELECT team, 'graviton' AS recommendation, 'graviton_coverage' AS kpi, 'graviton' AS rate_name,
        service_code, coalesce(instance_family, compute_kind) AS subject, graviton_target AS target,
        CASE WHEN compute_kind IN ('ec2', 'lambda', 'fargate') THEN 'compute' ELSE 'database' END AS category,
        resource_id, usage_account_id, usage_date, amortized_cost AS cost
    FROM classified WHERE graviton_den AND NOT graviton_num
    UNION ALL
    SELECT team, 'previous_generation', 'previous_generation_share', 'previous_generation',
        service_code, instance_family, successor_family,
        CASE WHEN compute_kind = 'ec2' THEN 'compute' ELSE 'database' END,
        resource_id, usage_account_id, usage_date, amortized_cost
    FROM classified WHERE previous_generation_num
    UNION ALL
    SELECT team, 'commitment', 'commitment_coverage', 'commitment',
        NULL, CASE WHEN compute_kind IN ('ec2', 'lambda', 'fargate') THEN 'compute' ELSE 'database' END,
        CASE WHEN compute_kind IN ('ec2', 'lambda', 'fargate') THEN 'Compute Savings Plan' ELSE 'Reserved Instances' END,
        CASE WHEN compute_kind IN ('ec2', 'lambda', 'fargate') THEN 'compute' ELSE 'database' END,
        resource_id, usage_account_id, usage_date, amortized_cost
    FROM classified WHERE coverage_den AND NOT coverage_num
    UNION ALL
    -- Spot is measured in public (list) cost, like its KPI.
    SELECT team, 'spot', 'spot_coverage', 'spot', service_code, 'ec2', 'Spot', 'compute',
        resource_id, usage_account_id, usage_date, public_on_demand_cost
    FROM classified WHERE spot_den AND NOT spot_num
    UNION ALL
    SELECT team, 'gp3', 'gp3_share', 'gp3', service_code, 'gp2', 'gp3', 'storage',
        resource_id, usage_account_id, usage_date, amortized_cost
    FROM classified WHERE gp3_den AND NOT gp3_num
    UNION ALL
    -- One recommendation per bucket: tier this bucket.
    SELECT team, 's3_tiering', 's3_storage_class_share', 's3_tiering', service_code,
        coalesce(resource_id, '(no bucket id)'), 'Intelligent-Tiering', 'storage',
        resource_id, usage_account_id, usage_date, amortized_cost
    FROM classified WHERE s3_den AND NOT s3_num
),
groups AS (
    SELECT team, recommendation, kpi, rate_name, service_code, subject, target, category,
        CAST(sum(cost) AS DOUBLE) AS base_cost,
        list(DISTINCT usage_account_id ORDER BY usage_account_id) AS usage_account_ids
    FROM candidates
    GROUP BY ALL
),
resources AS (
    SELECT team, recommendation, service_code, subject, resource_id, sum(cost) AS cost
    FROM candidates WHERE nullif(trim(resource_id), '') IS NOT NULL
    GROUP BY ALL
),
top_resources AS (
    SELECT team, recommendation, service_code, subject,
        count(*) AS resource_count,
        list(resource_id ORDER BY cost DESC, resource_id)[1:$resources] AS top_resources
    FROM resources
    GROUP BY ALL
),
steady AS (
    -- Commitments: the steady on-demand baseline, the lowest daily on-demand cost of the period
    -- (days with data but no on-demand cost count as zero), as a monthly amount.
    SELECT k.team, k.subject, min(coalesce(d.cost, 0)) * $days_in_month AS baseline
    FROM (SELECT DISTINCT team, subject FROM candidates WHERE recommendation = 'commitment') AS k
    CROSS JOIN (SELECT DISTINCT usage_date FROM classified) AS days
    LEFT JOIN (
        SELECT team, subject, usage_date, CAST(sum(cost) AS DOUBLE) AS cost
        FROM candidates WHERE recommendation = 'commitment' GROUP BY ALL
    ) AS d ON d.team = k.team AND d.subject = k.subject AND d.usage_date = days.usage_date
    GROUP BY ALL
),
current AS (
    SELECT g.*, r.rate, gl.goal, s.month_factor,
        CASE WHEN g.kpi = 'graviton_coverage' AND t.graviton_den > 0 THEN t.graviton_num / t.graviton_den
            WHEN g.kpi = 'previous_generation_share' AND t.previous_generation_den > 0
                THEN t.previous_generation_num / t.previous_generation_den
            WHEN g.kpi = 'commitment_coverage' AND t.coverage_den > 0 THEN t.coverage_num / t.coverage_den
            WHEN g.kpi = 'spot_coverage' AND t.spot_den > 0 THEN t.spot_num / t.spot_den
            WHEN g.kpi = 'gp3_share' AND t.gp3_den > 0 THEN t.gp3_num / t.gp3_den
            WHEN g.kpi = 's3_storage_class_share' AND t.s3_den > 0 THEN t.s3_num / t.s3_den
        END AS current_value,
        CASE g.kpi
            WHEN 'commitment_coverage' THEN t.coverage_den - t.coverage_num
            WHEN 'spot_coverage' THEN t.spot_den - t.spot_num
        END AS team_base,
        CASE g.kpi
            WHEN 'commitment_coverage' THEN t.coverage_den
            WHEN 'spot_coverage' THEN t.spot_den
            WHEN 'gp3_share' THEN t.gp3_den
        END AS kpi_den,
        st.baseline
    FROM groups AS g
    JOIN team_kpis AS t USING (team)
    JOIN rates AS r ON r.name = g.rate_name
    JOIN goals AS gl ON gl.kpi = g.kpi
    CROSS JOIN scale AS s
    LEFT JOIN steady AS st ON g.recommendation = 'commitment' AND st.team = g.team AND st.subject = g.subject
),
savings AS (
    -- fraction = share of the group's base cost that moves to reach the goal (0 at or past it).
    -- least/greatest skip NULLs, so every division is guarded by a CASE instead.
    SELECT *,
        CASE
            WHEN current_value IS NULL OR base_cost <= 0 THEN NULL
            WHEN kpi = 'previous_generation_share' THEN
                CASE WHEN current_value > goal THEN (current_value - goal) / current_value ELSE 0.0 END
            WHEN current_value >= goal THEN 0.0
            -- Commitment and Spot: the team-wide cost to move, spread over the groups in proportion
            -- to their base cost (cost x gap / uncovered part).
            WHEN kpi IN ('commitment_coverage', 'spot_coverage') THEN (goal - current_value) * kpi_den / team_base
            WHEN kpi = 'gp3_share' THEN (goal - current_value) * kpi_den / base_cost
            ELSE (goal - current_value) / (1 - current_value)
        END AS fraction
    FROM current
),
priced AS (
    SELECT *,
        base_cost * month_factor AS monthly_base,
        base_cost * month_factor * rate AS potential,
        CASE
            -- Never commit beyond the steady baseline: the rest of on-demand use may go away.
            WHEN recommendation = 'commitment' THEN least(base_cost * least(fraction, 1.0) * month_factor, baseline) * rate
            ELSE base_cost * least(fraction, 1.0) * month_factor * rate
        END AS estimated
    FROM savings
    WHERE fraction IS NOT NULL
),
ranked AS (
    SELECT p.*, tr.resource_count, tr.top_resources,
        row_number() OVER (PARTITION BY p.team ORDER BY p.estimated DESC, p.potential DESC, p.recommendation, p.subject) AS priority
    FROM priced AS p
    LEFT JOIN top_resources AS tr
        ON tr.team = p.team AND tr.recommendation = p.recommendation
        AND tr.service_code IS NOT DISTINCT FROM p.service_code AND tr.subject = p.subject
    WHERE round(p.estimated, 2) >= $min_savings AND p.estimated > 0
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    team,
    priority,
    priority <= $top_n AS sprint,
    recommendation || '|' || team || '|' || coalesce(service_code, '*') || '|' || subject AS recommendation_id,
    recommendation,
    category,
    service_code,
    CASE recommendation
        WHEN 'graviton' THEN 'Move ' || subject || ' (' || service_code || ') to Graviton ' || target
        WHEN 'previous_generation' THEN 'Move previous-generation ' || subject || ' (' || service_code || ') to ' || target
        WHEN 'commitment' THEN 'Cover the steady ' || subject || ' on-demand baseline (' || printf('%.2f', baseline)
            || ' a month) with ' || target
        WHEN 'spot' THEN 'Run interruption-tolerant EC2 on-demand capacity on Spot'
        WHEN 'gp3' THEN 'Move these EBS volumes from gp2 to gp3'
        WHEN 's3_tiering' THEN 'Tier bucket ' || subject || ' (Intelligent-Tiering or a lifecycle rule to Standard-IA)'
    END AS action,
    subject,
    target,
    kpi,
    current_value,
    goal,
    rate AS saving_rate,
    CAST(round(monthly_base, 2) AS DECIMAL(18,2)) AS monthly_base_cost,
    CAST(round(potential, 2) AS DECIMAL(18,2)) AS potential_monthly_savings,
    CAST(round(estimated, 2) AS DECIMAL(18,2)) AS estimated_monthly_savings,
    coalesce(resource_count, 0) AS resource_count,
    coalesce(top_resources, []) AS top_resources,
    usage_account_ids
FROM ranked
ORDER BY team, priority
