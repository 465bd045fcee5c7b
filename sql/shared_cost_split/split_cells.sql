-- The split: common table expressions that follow `allocated` (line items grouped by day, currency,
-- service, charge category and decision key, with owners and summed costs: transforms.allocation.
-- lineitems.grouped_allocated_sql over sql/cost_allocation/owners.sql) and end in
-- `rounded`, every cost_allocation cell per day and cost basis, in cents. Used by cost_allocation.sql
-- and shared_cost_split.sql, so both tables come from the same numbers.
--
-- Rounding rule (docs/allocation.md): every cell's exact amount is computed first (direct cells:
-- the DECIMAL sum of their line items; shared cells: pool cell x weight / total weight, as an exact
-- fraction of integers), then all cells of one (day, currency, cost basis) are rounded together by
-- largest remainder: each takes the floor in cents, and the cents still missing to reach the day's
-- total rounded once, round(sum of line items, 2), go one each to the cells with the largest
-- remainders (ties: allocation method, team, pool, account, service, charge category, ...).
-- Sums over all cells of a day therefore equal the rounded day total exactly, and every cell is
-- within one cent of its exact amount.
--
-- Markers: usage_driver_sums, usage_drivers (fragments.usage_driver_fragments); metric_drivers
-- (metric_drivers.sql or an empty SELECT). Parameters: $pools, $recipients, $teams and the fragments'.
cells AS MATERIALIZED (
    -- Exact sums (DECIMAL(38,10)) per output cell of the groups of line items in `allocated`, the
    -- only pass over the line items.
    SELECT
        usage_date, currency, allocation_method, allocation_reason, pool,
        team, product, environment, cost_center,
        usage_account_id, service_code, charge_category,
        sum(unblended_cost) AS unblended,
        sum(amortized_cost) AS amortized,
        sum(net_amortized_cost) AS net_amortized/*@usage_driver_sums*/
    FROM allocated
    GROUP BY ALL
),
bases AS (
    SELECT * FROM (VALUES ('unblended'), ('amortized'), ('net_amortized')) AS b(cost_basis)
),
targets AS (
    -- What the rounded cells of a day must add up to: the day's exact total, rounded once.
    SELECT
        d.usage_date, d.currency, b.cost_basis,
        CAST(round(CASE b.cost_basis WHEN 'unblended' THEN d.unblended WHEN 'amortized' THEN d.amortized
                   ELSE d.net_amortized END, 2) * 100 AS HUGEINT) AS target_cents
    FROM (
        SELECT usage_date, currency,
            sum(unblended) AS unblended, sum(amortized) AS amortized, sum(net_amortized) AS net_amortized
        FROM cells GROUP BY ALL
    ) AS d
    CROSS JOIN bases AS b
),
cell_units AS MATERIALIZED (
    -- One row per cell and cost basis; amounts as integers in units of 1e-10 (exact: money is DECIMAL(18,10)).
    SELECT
        c.usage_date, c.currency, b.cost_basis, c.allocation_method, c.allocation_reason, c.pool,
        c.team, c.product, c.environment, c.cost_center,
        c.usage_account_id, c.service_code, c.charge_category,
        CAST(CASE b.cost_basis WHEN 'unblended' THEN c.unblended WHEN 'amortized' THEN c.amortized
             ELSE c.net_amortized END * 10000000000 AS HUGEINT) AS units
    FROM cells AS c
    CROSS JOIN bases AS b
),
pools AS (
    SELECT unnest(
        CAST($pools AS STRUCT(pool VARCHAR, method VARCHAR, driver VARCHAR, driver_metric VARCHAR, on_zero VARCHAR)[]),
        recursive := true
    )
),
recipients AS (
    SELECT unnest(CAST($recipients AS STRUCT(pool VARCHAR, team VARCHAR, weight BIGINT)[]), recursive := true)
),
recipient_teams AS (
    SELECT unnest(CAST($teams AS STRUCT(team VARCHAR, product VARCHAR, cost_center VARCHAR)[]), recursive := true)
),
pool_days AS (
    SELECT DISTINCT pool, usage_date, currency, cost_basis FROM cell_units WHERE allocation_method = 'shared'
),
direct_cost AS (
    -- Driver of 'proportional': each team's own (tag, account, rule) cost that day, same cost basis.
    SELECT usage_date, currency, cost_basis, team, sum(units) AS units
    FROM cell_units
    WHERE allocation_method IN ('tag', 'account', 'rule')
    GROUP BY ALL
),
metric_drivers AS (
    /*@metric_drivers*/
),
usage_drivers AS (
    /*@usage_drivers*/
),
raw_weights AS (
    -- One row per pool, day, cost basis and configured recipient, idle recipients included.
    -- Weights are non-negative integers: a negative driver (a team whose credits exceed its cost)
    -- weighs zero. driver_value is what was measured, before that floor.
    SELECT
        pd.pool, pd.usage_date, pd.currency, pd.cost_basis, r.team AS recipient,
        p.method, p.driver, p.on_zero,
        CAST(CASE p.method
            WHEN 'proportional' THEN CAST(coalesce(dc.units, 0) AS DECIMAL(38,0)) * 0.0000000001
            WHEN 'even' THEN 1
            WHEN 'weights' THEN CAST(r.weight AS DECIMAL(38,0)) * 0.000001
            ELSE coalesce(md.value, ud.value, 0)
        END AS DECIMAL(38,10)) AS driver_value,
        CAST(CASE p.method
            WHEN 'proportional' THEN greatest(coalesce(dc.units, 0), 0)
            WHEN 'even' THEN 1
            WHEN 'weights' THEN r.weight
            ELSE greatest(CAST(coalesce(md.value, ud.value, 0) * 1000000 AS HUGEINT), 0)
        END AS HUGEINT) AS weight
    FROM pool_days AS pd
    JOIN pools AS p ON p.pool = pd.pool
    JOIN recipients AS r ON r.pool = pd.pool
    LEFT JOIN direct_cost AS dc
        ON dc.usage_date = pd.usage_date AND dc.currency = pd.currency AND dc.cost_basis = pd.cost_basis
        AND dc.team = r.team
    LEFT JOIN metric_drivers AS md ON md.pool = pd.pool AND md.usage_date = pd.usage_date AND md.team = r.team
    LEFT JOIN usage_drivers AS ud ON ud.pool = pd.pool AND ud.usage_date = pd.usage_date AND ud.team = r.team
),
pool_weights AS (
    SELECT pool, usage_date, currency, cost_basis, sum(weight) AS total_weight, count(*) AS recipient_count
    FROM raw_weights
    GROUP BY ALL
),
weights AS MATERIALIZED (
    -- The weights applied: when every recipient weighs zero that day, an even split (on_zero: even)
    -- or none, leaving the pool's cost unallocated (on_zero: unallocated).
    SELECT
        w.*,
        CASE WHEN t.total_weight > 0 THEN w.method WHEN w.on_zero = 'even' THEN 'even' ELSE 'none' END
            AS applied_method,
        CAST(CASE WHEN t.total_weight > 0 THEN w.weight WHEN w.on_zero = 'even' THEN 1 ELSE 0 END AS HUGEINT)
            AS applied_weight,
        CAST(CASE WHEN t.total_weight > 0 THEN t.total_weight WHEN w.on_zero = 'even' THEN t.recipient_count ELSE 0 END
            AS HUGEINT) AS applied_total
    FROM raw_weights AS w
    JOIN pool_weights AS t USING (pool, usage_date, currency, cost_basis)
),
exact AS (
    -- Every cell's exact amount as the fraction num / den, in cents.
    SELECT
        usage_date, currency, cost_basis, allocation_method, allocation_reason, pool,
        team, product, environment, cost_center, usage_account_id, service_code, charge_category,
        units AS num, CAST(100000000 AS HUGEINT) AS den
    FROM cell_units
    WHERE allocation_method <> 'shared'
    UNION ALL
    SELECT
        c.usage_date, c.currency, c.cost_basis, 'shared', NULL, c.pool,
        w.recipient, rt.product, NULL, rt.cost_center, c.usage_account_id, c.service_code, c.charge_category,
        c.units * w.applied_weight, w.applied_total * 100000000
    FROM cell_units AS c
    JOIN weights AS w
        ON w.pool = c.pool AND w.usage_date = c.usage_date AND w.currency = c.currency AND w.cost_basis = c.cost_basis
    LEFT JOIN recipient_teams AS rt ON rt.team = w.recipient
    WHERE c.allocation_method = 'shared' AND w.applied_total > 0
    UNION ALL
    -- Pool cost that cannot be split stays visible: unallocated, with its pool and a reason.
    SELECT
        c.usage_date, c.currency, c.cost_basis, 'unallocated',
        CASE WHEN t.recipient_count IS NULL THEN 'pool_no_recipients' ELSE 'pool_zero_driver' END, c.pool,
        NULL, NULL, NULL, NULL, c.usage_account_id, c.service_code, c.charge_category,
        c.units, CAST(100000000 AS HUGEINT)
    FROM cell_units AS c
    LEFT JOIN pool_weights AS t
        ON t.pool = c.pool AND t.usage_date = c.usage_date AND t.currency = c.currency AND t.cost_basis = c.cost_basis
    LEFT JOIN pools AS p ON p.pool = c.pool
    WHERE c.allocation_method = 'shared'
        AND (t.recipient_count IS NULL OR (t.total_weight = 0 AND p.on_zero = 'unallocated'))
),
floored AS (
    SELECT
        *,
        -- Floor division (HUGEINT // truncates toward zero; credits make num negative).
        CASE WHEN num >= 0 THEN num // den ELSE -((-num + den - 1) // den) END AS floor_cents
    FROM exact
),
ranked AS (
    SELECT
        f.*,
        row_number() OVER (
            PARTITION BY f.usage_date, f.currency, f.cost_basis
            ORDER BY
                CAST(f.num - f.floor_cents * f.den AS DOUBLE) / CAST(f.den AS DOUBLE) DESC,
                f.allocation_method, f.team NULLS LAST, f.pool NULLS FIRST, f.usage_account_id NULLS FIRST,
                f.service_code NULLS FIRST, f.charge_category NULLS FIRST, f.product NULLS FIRST,
                f.environment NULLS FIRST, f.cost_center NULLS FIRST, f.allocation_reason NULLS FIRST
        ) AS remainder_rank,
        sum(f.floor_cents) OVER (PARTITION BY f.usage_date, f.currency, f.cost_basis) AS floor_total
    FROM floored AS f
),
rounded AS (
    SELECT
        r.* EXCLUDE (num, den, floor_cents, remainder_rank, floor_total),
        r.floor_cents + CASE WHEN r.remainder_rank <= t.target_cents - r.floor_total THEN 1 ELSE 0 END AS cents
    FROM ranked AS r
    JOIN targets AS t USING (usage_date, currency, cost_basis)
)
