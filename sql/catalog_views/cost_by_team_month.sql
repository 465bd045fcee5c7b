-- cost_by_team_month: allocated cost per team and month, the first table a showback starts from.
-- Amortized cost is the basis budgets and unit costs use; unblended is what the invoice shows.
-- Cost without an owner is team 'unallocated', so the teams of a month add up to its whole bill.
-- requires: cost_allocation
WITH by_team AS (
    SELECT
        billing_period,
        coalesce(team, 'unallocated') AS team,
        currency,
        sum(direct_amortized_cost) AS direct_amortized_cost,
        sum(shared_amortized_cost) AS shared_amortized_cost,
        sum(direct_amortized_cost + shared_amortized_cost) AS amortized_cost,
        sum(direct_unblended_cost + shared_unblended_cost) AS unblended_cost,
        sum(direct_net_amortized_cost + shared_net_amortized_cost) AS net_amortized_cost
    FROM cost_allocation
    GROUP BY ALL
)
SELECT
    *,
    CASE WHEN sum(amortized_cost) OVER (PARTITION BY billing_period, currency) > 0
        THEN amortized_cost / sum(amortized_cost) OVER (PARTITION BY billing_period, currency)
    END AS share_of_month
FROM by_team
