-- cost_line_items from a FOCUS 1.x delivery (AWS FOCUS_1_2 export, Azure, Google Cloud, OCI,
-- or curlake's own focus_1_2 export). Input `staged`: the FOCUS columns of
-- transforms/readers/focus.py, conformed by transforms/readers/staging.py (absent ones NULL).
-- Parameters: $billing_period, $source_format, $delivery_id.
--
-- Costs: FOCUS already amortizes. BilledCost is the invoiced cost (net of negotiated discounts),
-- EffectiveCost the amortized one: net_unblended_cost and net_amortized_cost. The gross
-- columns come from curlake's x_UnblendedCost / x_AmortizedCost when present (a round trip of
-- curlake's export), else ContractedCost (cost before commitment discounts) and EffectiveCost.
-- Line item type: x_LineItemType when present, else derived from ChargeCategory, the
-- commitment columns and the sign of the cost (docs/focus.md has the table).
-- Rows that cannot be right stop the query with 'IngestError: <file>: <problem> (<row>)'.
WITH derived AS (
    SELECT
        *,
        -- A fee's amortized part, which curlake's export writes as a Usage row of its own, is
        -- still part of a Purchase in cost_line_items.
        CASE
            WHEN x_LineItemType IN ('SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee', 'RIFee', 'Fee') THEN 'Purchase'
            WHEN ChargeCategory IN ('Usage', 'Purchase', 'Tax', 'Adjustment') THEN ChargeCategory
            WHEN ChargeCategory = 'Credit' THEN 'Adjustment'
        END AS charge_category,
        coalesce(x_LineItemType, CASE
            WHEN ChargeCategory = 'Tax' THEN 'Tax'
            WHEN ChargeCategory = 'Credit' THEN 'Credit'
            WHEN ChargeCategory = 'Adjustment' THEN 'Refund'
            WHEN ChargeCategory = 'Purchase' AND CommitmentDiscountCategory = 'Spend'
                THEN CASE WHEN ChargeFrequency = 'One-Time' THEN 'SavingsPlanUpfrontFee' ELSE 'SavingsPlanRecurringFee' END
            WHEN ChargeCategory = 'Purchase' AND CommitmentDiscountCategory = 'Usage'
                THEN CASE WHEN ChargeFrequency = 'One-Time' THEN 'Fee' ELSE 'RIFee' END
            WHEN ChargeCategory = 'Purchase' THEN 'Fee'
            WHEN CommitmentDiscountStatus = 'Unused' AND CommitmentDiscountCategory = 'Spend' THEN 'SavingsPlanRecurringFee'
            WHEN CommitmentDiscountStatus = 'Unused' AND CommitmentDiscountCategory = 'Usage' THEN 'RIFee'
            WHEN CommitmentDiscountCategory = 'Spend' THEN 'SavingsPlanCoveredUsage'
            WHEN CommitmentDiscountCategory = 'Usage' THEN 'DiscountedUsage'
            WHEN BilledCost < 0 THEN 'Discount'
            ELSE 'Usage'
        END) AS line_item_type,
        -- Tag keys as transforms/tags.py normalizes CUR's: trimmed, lowercased, user_/user:
        -- removed, aws: -> aws_; empty keys and values dropped; sorted by (key, raw key).
        list_sort(list_filter(
            list_transform(
                list_transform(map_entries(Tags), lambda e: {'k': lower(trim(e.key)), 'raw': e.key, 'v': e.value}),
                lambda e: {
                    'k': CASE
                        WHEN starts_with(e.k, 'user_') OR starts_with(e.k, 'user:') THEN e.k[6:]
                        WHEN starts_with(e.k, 'aws:') THEN 'aws_' || e.k[5:]
                        ELSE e.k
                    END,
                    'raw': e.raw,
                    'v': e.v
                }
            ),
            lambda e: e.k <> '' AND coalesce(e.v, '') <> ''
        )) AS tag_list,
        coalesce(x_PurchaseOption, CASE
            WHEN CommitmentDiscountCategory = 'Spend' THEN 'SavingsPlan'
            WHEN CommitmentDiscountCategory = 'Usage' THEN 'Reserved'
            WHEN PricingCategory = 'Dynamic' THEN 'Spot'
            ELSE 'OnDemand'
        END) AS purchase_option
    FROM staged
),
checked AS (
    SELECT
        *,
        CASE
            WHEN charge_category IS NULL THEN
                'unknown ChargeCategory ' || coalesce('''' || ChargeCategory || '''', 'NULL')
                || ' (expected Usage, Purchase, Tax, Credit or Adjustment)'
            WHEN strftime(BillingPeriodStart, '%Y-%m') IS DISTINCT FROM $billing_period THEN
                'BillingPeriodStart is in billing period ' || coalesce(strftime(BillingPeriodStart, '%Y-%m'), 'NULL')
                || ' but the file was delivered for billing period ' || $billing_period
            WHEN ChargePeriodStart IS NULL THEN 'ChargePeriodStart is empty'
            WHEN BillingAccountId IS NULL THEN 'BillingAccountId is empty'
            WHEN BillingCurrency IS NULL THEN 'BillingCurrency is empty'
            WHEN BilledCost IS NULL THEN 'BilledCost is empty'
            WHEN EffectiveCost IS NULL THEN 'EffectiveCost is empty'
            WHEN coalesce(x_ServiceCode, ServiceName) IS NULL THEN 'ServiceName is empty'
            WHEN x_PurchaseOption NOT IN ('OnDemand', 'Spot', 'SavingsPlan', 'Reserved') THEN
                'x_PurchaseOption ''' || x_PurchaseOption || ''' is not OnDemand, Spot, SavingsPlan or Reserved'
        END AS problem
    FROM derived
)
SELECT
    CAST($billing_period AS VARCHAR) AS billing_period,
    ChargePeriodStart AS usage_start,
    CAST(ChargePeriodStart AS DATE) AS usage_date,
    BillingAccountId AS payer_account_id,
    coalesce(SubAccountId, BillingAccountId) AS usage_account_id,
    SubAccountName AS usage_account_name,
    coalesce(x_ServiceCode, ServiceName) AS service_code,
    ServiceName AS service_name,
    RegionId AS region,
    AvailabilityZone AS availability_zone,
    coalesce(x_UsageType, SkuMeter) AS usage_type,
    x_Operation AS operation,
    ResourceId AS resource_id,
    line_item_type,
    charge_category,
    purchase_option,
    CommitmentDiscountId AS commitment_arn,
    CASE WHEN CommitmentDiscountId IS NOT NULL THEN CommitmentDiscountType END AS commitment_type,
    x_ProductFamily AS product_family,
    x_InstanceType AS instance_type,
    NULLIF(regexp_extract(x_InstanceType, '^(?:db\.|cache\.)?([^.]+)', 1), '') AS instance_family,
    x_Processor AS processor,
    x_OperatingSystem AS operating_system,
    x_StorageClass AS storage_class,
    x_VolumeApiName AS volume_api_name,
    coalesce(x_PricingUnit, PricingUnit) AS pricing_unit,
    coalesce(x_UsageAmount, ConsumedQuantity, PricingQuantity) AS usage_amount,
    BillingCurrency AS currency,
    CAST(coalesce(x_UnblendedCost, ContractedCost, BilledCost) AS DECIMAL(18, 10)) AS unblended_cost,
    BilledCost AS net_unblended_cost,
    CAST(coalesce(x_AmortizedCost, EffectiveCost) AS DECIMAL(18, 10)) AS amortized_cost,
    EffectiveCost AS net_amortized_cost,
    coalesce(ListCost, CAST(0 AS DECIMAL(18, 10))) AS public_on_demand_cost,
    -- First entry of each normalized key in raw-key order, as cur2.sql keeps them.
    map_from_entries(list_transform(
        list_filter(
            list_zip(tag_list, list_prepend(NULL, list_slice(tag_list, 1, len(tag_list) - 1))),
            lambda p: p[1] IS NOT NULL AND (p[2] IS NULL OR p[1].k <> p[2].k)
        ),
        lambda p: {'key': p[1].k, 'value': p[1].v}
    )) AS tags,
    x_CostCategories AS cost_category,
    x_LineItemId AS line_item_id,
    CAST($source_format AS VARCHAR) AS source_format,
    source_file,
    CAST($delivery_id AS VARCHAR) AS delivery_id
FROM checked
WHERE CASE
    WHEN problem IS NULL THEN true
    ELSE error('IngestError: ' || source_file || ': ' || problem || ' (' || source_row || ')')
END
