-- focus_1_2, first step: what the export must know about the whole billing period before it
-- streams rows, in one pass over 4 columns of `cost_line_items` (one row per payer account).
-- Parameters: $billing_period ('YYYY-MM').
-- Columns:
--   payer_account_id, payer_account_name: cost_line_items has no payer account name; FOCUS
--     BillingAccountName is the name of the payer's own usage account (null when the payer
--     has no usage of its own; the export then falls back to the id).
--   hourly: whether any usage starts off midnight (null only when usage_start is). Daily
--     deliveries start every row at midnight; the granularity sets ChargePeriodEnd.
-- Every row counts here, split cost allocation rows included: they carry the same accounts and
-- the same granularity as the rest of the delivery.
SELECT
    payer_account_id,
    max(usage_account_name) FILTER (WHERE usage_account_id = payer_account_id) AS payer_account_name,
    bool_or(usage_start <> date_trunc('day', usage_start)) AS hourly
FROM cost_line_items
WHERE billing_period = $billing_period
GROUP BY payer_account_id
