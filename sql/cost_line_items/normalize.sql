-- cost_line_items, step 3 of 3: the canonical table (transforms/schema.py) from the
-- format-neutral columns of cur2.sql or legacy.sql (relation `standard`).
-- Business rules from /work/shared/reference/FINOPS_DEFINITIONS.md: charge category, purchase
-- option, amortized and net amortized cost by line item type, instance family, processor.
-- Tags arrive normalized (transforms/tags.py rules, applied by cur2.sql or at staging).
-- Parameters: $billing_period (YYYY-MM, from the delivery's folder or manifest), $source_format,
-- $delivery_id.
-- Rows that cannot be right stop the query with 'IngestError: <file>: <problem> (<row>)'
-- (transforms.readers.ingest_errors turns that into IngestError). The check is a filter, so it
-- runs whatever columns the caller selects.
WITH categorized AS (
    SELECT
        *,
        NULLIF(savings_plan_savings_plan_a_r_n, '') AS sp_arn,
        NULLIF(reservation_reservation_a_r_n, '') AS ri_arn,
        CASE
            WHEN line_item_line_item_type IN (
                'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation',
                'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount', 'RiVolumeDiscount',
                'SppDiscount', 'Discount'
            ) THEN 'Usage'
            WHEN line_item_line_item_type IN ('SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee', 'RIFee', 'Fee')
                THEN 'Purchase'
            WHEN line_item_line_item_type IN ('Credit', 'Refund') THEN 'Adjustment'
            WHEN line_item_line_item_type = 'Tax' THEN 'Tax'
        END AS charge_category
    FROM standard
),
checked AS (
    SELECT
        *,
        CASE
            WHEN charge_category IS NULL THEN
                'unknown line item type ' || coalesce('''' || line_item_line_item_type || '''', 'NULL')
                || ' in column line_item_line_item_type'
            WHEN strftime(bill_billing_period_start_date, '%Y-%m') IS DISTINCT FROM $billing_period THEN
                'bill_billing_period_start_date is in billing period '
                || coalesce(strftime(bill_billing_period_start_date, '%Y-%m'), 'NULL')
                || ' but the file was delivered for billing period ' || $billing_period
                || ' (its folder or manifest)'
            WHEN line_item_usage_start_date IS NULL THEN 'line_item_usage_start_date is empty'
            WHEN bill_payer_account_id IS NULL THEN 'bill_payer_account_id is empty'
            WHEN line_item_usage_account_id IS NULL THEN 'line_item_usage_account_id is empty'
            WHEN line_item_product_code IS NULL THEN 'line_item_product_code is empty'
            WHEN line_item_currency_code IS NULL THEN 'line_item_currency_code is empty'
            WHEN line_item_unblended_cost IS NULL THEN 'line_item_unblended_cost is empty'
        END AS problem
    FROM categorized
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    line_item_usage_start_date AS usage_start,
    CAST(line_item_usage_start_date AS DATE) AS usage_date,
    bill_payer_account_id AS payer_account_id,
    line_item_usage_account_id AS usage_account_id,
    line_item_usage_account_name AS usage_account_name,
    line_item_product_code AS service_code,
    service_name,
    region,
    line_item_availability_zone AS availability_zone,
    line_item_usage_type AS usage_type,
    line_item_operation AS operation,
    line_item_resource_id AS resource_id,
    line_item_line_item_type AS line_item_type,
    charge_category,
    CASE
        WHEN sp_arn IS NOT NULL THEN 'SavingsPlan'
        WHEN ri_arn IS NOT NULL THEN 'Reserved'
        WHEN contains(coalesce(line_item_usage_type, ''), 'Spot') THEN 'Spot'
        ELSE 'OnDemand'
    END AS purchase_option,
    coalesce(sp_arn, ri_arn) AS commitment_arn,
    CASE
        WHEN sp_arn IS NOT NULL THEN savings_plan_offering_type
        WHEN ri_arn IS NOT NULL THEN 'Reserved'
    END AS commitment_type,
    product_product_family AS product_family,
    product_instance_type AS instance_type,
    -- m7g.large -> m7g, db.r7g.large -> r7g, cache.m6g.large -> m6g
    NULLIF(regexp_extract(product_instance_type, '^(?:db\.|cache\.)?([^.]+)', 1), '') AS instance_family,
    CASE
        WHEN contains(physical_processor, 'Graviton') THEN 'Graviton'
        WHEN contains(physical_processor, 'Intel') THEN 'Intel'
        WHEN contains(physical_processor, 'AMD') THEN 'AMD'
        -- Lambda and Fargate carry no processor attribute: their ARM usage types run on Graviton.
        WHEN contains(coalesce(line_item_usage_type, ''), 'ARM') THEN 'Graviton'
        WHEN physical_processor IS NOT NULL THEN 'Other'
    END AS processor,
    operating_system,
    storage_class,
    volume_api_name,
    pricing_unit,
    line_item_usage_amount AS usage_amount,
    line_item_currency_code AS currency,
    line_item_unblended_cost AS unblended_cost,
    CAST(coalesce(line_item_net_unblended_cost, line_item_unblended_cost) AS DECIMAL(18, 10)) AS net_unblended_cost,
    CAST(CASE line_item_line_item_type
        WHEN 'SavingsPlanCoveredUsage' THEN coalesce(savings_plan_savings_plan_effective_cost, 0)
        WHEN 'SavingsPlanRecurringFee' THEN
            coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
        WHEN 'SavingsPlanNegation' THEN 0
        WHEN 'SavingsPlanUpfrontFee' THEN 0
        WHEN 'DiscountedUsage' THEN coalesce(reservation_effective_cost, 0)
        WHEN 'RIFee' THEN
            coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
            + coalesce(reservation_unused_recurring_fee, 0)
        WHEN 'Fee' THEN CASE WHEN ri_arn IS NOT NULL THEN 0 ELSE line_item_unblended_cost END
        ELSE line_item_unblended_cost
    END AS DECIMAL(18, 10)) AS amortized_cost,
    -- Net: the same with the net_ columns, each falling back to its gross column per row. CUR 2.0
    -- has no net commitment-to-date / used-commitment columns: the SP recurring fee stays gross.
    CAST(CASE line_item_line_item_type
        WHEN 'SavingsPlanCoveredUsage' THEN
            coalesce(savings_plan_net_savings_plan_effective_cost, savings_plan_savings_plan_effective_cost, 0)
        WHEN 'SavingsPlanRecurringFee' THEN
            coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0)
        WHEN 'SavingsPlanNegation' THEN 0
        WHEN 'SavingsPlanUpfrontFee' THEN 0
        WHEN 'DiscountedUsage' THEN coalesce(reservation_net_effective_cost, reservation_effective_cost, 0)
        WHEN 'RIFee' THEN
            coalesce(reservation_net_unused_amortized_upfront_fee_for_billing_period,
                     reservation_unused_amortized_upfront_fee_for_billing_period, 0)
            + coalesce(reservation_net_unused_recurring_fee, reservation_unused_recurring_fee, 0)
        WHEN 'Fee' THEN
            CASE WHEN ri_arn IS NOT NULL THEN 0 ELSE coalesce(line_item_net_unblended_cost, line_item_unblended_cost) END
        ELSE coalesce(line_item_net_unblended_cost, line_item_unblended_cost)
    END AS DECIMAL(18, 10)) AS net_amortized_cost,
    coalesce(pricing_public_on_demand_cost, CAST(0 AS DECIMAL(18, 10))) AS public_on_demand_cost,
    tags,
    cost_category,
    identity_line_item_id AS line_item_id,
    CAST($source_format AS VARCHAR) AS source_format,
    source_file,
    CAST($delivery_id AS VARCHAR) AS delivery_id
FROM checked
WHERE CASE
    WHEN problem IS NULL THEN true
    ELSE error('IngestError: ' || source_file || ': ' || problem || ' (' || source_row || ')')
END
