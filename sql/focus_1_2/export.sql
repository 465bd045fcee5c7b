-- focus_1_2: one billing period of `cost_line_items` as a FOCUS 1.2 cost and usage dataset.
-- Input: a relation named `cost_line_items` (transforms/schema.py columns).
-- Mapping: /work/shared/reference/FINOPS_DEFINITIONS.md "FOCUS 1.2 from CUR 2.0" and
-- docs/focus.md (which also lists what is derived because cost_line_items does not carry it).
-- Parameters: $billing_period ('YYYY-MM'), $period_start, $period_end (TIMESTAMP, UTC),
-- $hourly (granularity of usage rows) and $payer_account_ids, $payer_account_names (parallel
-- lists) from sql/focus_1_2/period.sql, $provider_name, $publisher_name, $invoice_issuer_name,
-- $billing_account_type, $sub_account_type, $payer_sub_account_type, and the lookup lists of
-- transforms/focus/services.py ($service_codes, $service_categories, $service_subcategories,
-- $region_codes, $region_names, $unit_codes, $unit_names).
-- Left out: the capacity reservation columns, which cost_line_items does not carry (the dataset
-- does not claim CAPACITY_RESERVATION_SUPPORTED; see docs/focus.md).
--
-- Rows: one per line item, plus, for a Purchase whose amortized cost is not 0 (a recurring
-- commitment fee's unused part, a fee that is not amortized elsewhere), a companion Usage row
-- that carries that amortized cost: FOCUS wants EffectiveCost 0 on purchases and the unused
-- commitment as Usage with CommitmentDiscountStatus 'Unused'. Sums of BilledCost and
-- EffectiveCost equal the line items' net unblended and net amortized totals.
-- Split cost allocation rows (EKSPod-EC2, ECSTask-EC2) repeat their parent instance's cost and
-- are left out, as in every curlake total.
--
-- Cost (EXPLAIN ANALYZE, 1M-row bench month): whole line items are read once and every column
-- is computed in one streaming projection with no hash join below it (the SKU join placed
-- before the projection measured 1.9 instead of 0.7 CPU s per million rows: DuckDB then
-- evaluates the projection on the join's sliced output). What is the same for many rows is
-- computed once per distinct key: SKU ids (an md5 each) per (service, usage type, operation,
-- purchase option) in `skus`, joined on at the very end; payer account names once per payer in
-- period.sql, looked up by map. Tags and cost categories stay per row: a join on the distinct
-- maps measured 0.4 CPU s per million rows more than to_json (it hashes and compares every
-- row's map anyway).
WITH skus AS (
    -- One row per distinct key of the period (a few hundred), so md5 runs a few hundred times.
    SELECT
        service_code,
        usage_type,
        operation,
        purchase_option,
        sku_id,
        sku_id || '-' || purchase_option AS sku_price_id
    FROM (
        SELECT
            *,
            upper(substr(md5(concat_ws('|', service_code, coalesce(usage_type, ''), coalesce(operation, ''))), 1, 16)) AS sku_id
        FROM (
            SELECT DISTINCT service_code, usage_type, operation, purchase_option
            FROM cost_line_items
            WHERE billing_period = $billing_period
        )
    )
),
items AS (
    SELECT
        c.*,
        coalesce(c.tags, MAP {}) AS tag_map,
        -- FOCUS UnitFormat ('Hours', 'GB-Months'), not AWS's abbreviations ('Hrs', 'GB-Mo').
        coalesce(map($unit_codes, $unit_names)[c.pricing_unit], c.pricing_unit, 'Units') AS focus_unit,
        CAST(coalesce(c.usage_amount, 0) AS DOUBLE) AS quantity,
        map(CAST($payer_account_ids AS VARCHAR[]), CAST($payer_account_names AS VARCHAR[]))[c.payer_account_id] AS payer_name
    FROM cost_line_items AS c
    WHERE c.billing_period = $billing_period
      AND coalesce(c.operation, '') NOT IN ('EKSPod-EC2', 'ECSTask-EC2')
),
rows AS (
    -- part 0: the line item itself; part 1: the companion row of a purchase's amortized cost.
    SELECT
        i.*,
        part = 1 AS companion,
        CASE WHEN part = 1 THEN 'Usage' ELSE i.charge_category END AS category
    FROM items AS i, (VALUES (0), (1)) AS parts(part)
    WHERE part = 0
       OR (i.charge_category = 'Purchase' AND (i.amortized_cost <> 0 OR i.net_amortized_cost <> 0))
),
priced AS (
    SELECT
        *,
        CASE
            WHEN category NOT IN ('Usage', 'Purchase') THEN NULL
            WHEN companion THEN 0.0
            ELSE quantity
        END AS pricing_quantity,
        -- FOCUS unit prices are non-negative and price a quantity: rows that take money off
        -- (Savings Plan negation, discounts) carry it in BilledCost/EffectiveCost, not here.
        CAST(CASE
            WHEN companion THEN 0
            WHEN category IN ('Usage', 'Purchase') AND unblended_cost < 0 THEN 0
            ELSE unblended_cost
        END AS DECIMAL(18, 10)) AS contracted_cost,
        CAST(CASE WHEN companion THEN 0 ELSE public_on_demand_cost END AS DECIMAL(18, 10)) AS list_cost,
        CASE
            WHEN commitment_arn IS NULL THEN NULL
            WHEN purchase_option = 'SavingsPlan' THEN 'Spend'
            WHEN purchase_option = 'Reserved' THEN 'Usage'
        END AS commitment_category
    FROM rows
),
focus AS (
SELECT
    availability_zone AS AvailabilityZone,
    CAST(CASE WHEN companion THEN 0 ELSE net_unblended_cost END AS DECIMAL(18, 10)) AS BilledCost,
    payer_account_id AS BillingAccountId,
    coalesce(payer_name, payer_account_id) AS BillingAccountName,
    CAST($billing_account_type AS VARCHAR) AS BillingAccountType,
    currency AS BillingCurrency,
    CAST($period_end AS TIMESTAMP) AS BillingPeriodEnd,
    CAST($period_start AS TIMESTAMP) AS BillingPeriodStart,
    category AS ChargeCategory,
    CAST(NULL AS VARCHAR) AS ChargeClass,
    CASE
        WHEN companion AND commitment_arn IS NOT NULL THEN 'Unused commitment of ' || commitment_arn
        WHEN companion THEN 'Amortized ' || line_item_type || ': ' || coalesce(usage_type, service_code)
        ELSE line_item_type || ': ' || coalesce(usage_type, operation, service_code)
    END AS ChargeDescription,
    CASE
        WHEN companion THEN 'Usage-Based'
        WHEN category = 'Purchase' AND (line_item_type = 'SavingsPlanUpfrontFee' OR (line_item_type = 'Fee' AND commitment_arn IS NOT NULL))
            THEN 'One-Time'
        WHEN category IN ('Purchase', 'Tax') THEN 'Recurring'
        WHEN category = 'Adjustment' THEN 'One-Time'
        ELSE 'Usage-Based'
    END AS ChargeFrequency,
    -- cost_line_items keeps the start of the usage only: monthly charges end with the billing
    -- period, the others after one hour (or one day for daily-granularity deliveries).
    least(
        CASE
            WHEN usage_start = CAST($period_start AS TIMESTAMP) AND line_item_type IN (
                'Tax', 'Credit', 'Refund', 'Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'BundledDiscount',
                'EdpDiscount', 'PrivateRateDiscount', 'RiVolumeDiscount', 'SppDiscount', 'Discount'
            ) THEN CAST($period_end AS TIMESTAMP)
            WHEN $hourly THEN usage_start + INTERVAL 1 HOUR
            ELSE usage_start + INTERVAL 1 DAY
        END,
        CAST($period_end AS TIMESTAMP)
    ) AS ChargePeriodEnd,
    usage_start AS ChargePeriodStart,
    commitment_category AS CommitmentDiscountCategory,
    commitment_arn AS CommitmentDiscountId,
    CAST(NULL AS VARCHAR) AS CommitmentDiscountName,
    -- Spend commitments are counted in money, usage commitments in hours; an unused RI's hours
    -- are the fee's hours times its unused share.
    CASE
        WHEN commitment_arn IS NULL OR category NOT IN ('Usage', 'Purchase') THEN NULL
        WHEN commitment_category = 'Spend' THEN
            CAST(CASE WHEN category = 'Purchase' THEN net_unblended_cost ELSE net_amortized_cost END AS DOUBLE)
        WHEN companion THEN
            CASE WHEN unblended_cost > 0 THEN quantity * CAST(amortized_cost AS DOUBLE) / CAST(unblended_cost AS DOUBLE) ELSE 0.0 END
        ELSE quantity
    END AS CommitmentDiscountQuantity,
    CASE
        WHEN commitment_arn IS NULL OR category NOT IN ('Usage', 'Purchase') THEN NULL
        WHEN commitment_category = 'Spend' THEN currency
        ELSE 'Hours'
    END AS CommitmentDiscountUnit,
    CASE
        WHEN commitment_arn IS NULL OR category <> 'Usage' THEN NULL
        WHEN companion THEN 'Unused'
        ELSE 'Used'
    END AS CommitmentDiscountStatus,
    CASE WHEN commitment_arn IS NOT NULL THEN commitment_type END AS CommitmentDiscountType,
    CASE
        WHEN category <> 'Usage' OR (companion AND commitment_arn IS NOT NULL) THEN NULL
        WHEN companion THEN 0.0
        ELSE quantity
    END AS ConsumedQuantity,
    CASE
        WHEN category <> 'Usage' OR (companion AND commitment_arn IS NOT NULL) THEN NULL
        ELSE focus_unit
    END AS ConsumedUnit,
    contracted_cost AS ContractedCost,
    CASE
        WHEN pricing_quantity IS NULL THEN NULL
        WHEN pricing_quantity > 0 THEN CAST(contracted_cost AS DOUBLE) / pricing_quantity
        ELSE 0.0
    END AS ContractedUnitPrice,
    CAST(CASE WHEN companion THEN net_amortized_cost WHEN category = 'Purchase' THEN 0 ELSE net_amortized_cost END
         AS DECIMAL(18, 10)) AS EffectiveCost,
    -- cost_line_items has no invoice id: null, FOCUS's value for "not known to be invoiced yet".
    CAST(NULL AS VARCHAR) AS InvoiceId,
    CAST($invoice_issuer_name AS VARCHAR) AS InvoiceIssuerName,
    list_cost AS ListCost,
    CASE
        WHEN pricing_quantity IS NULL THEN NULL
        WHEN pricing_quantity > 0 THEN CAST(list_cost AS DOUBLE) / pricing_quantity
        ELSE 0.0
    END AS ListUnitPrice,
    CASE
        WHEN category NOT IN ('Usage', 'Purchase') THEN NULL
        WHEN companion OR purchase_option IN ('SavingsPlan', 'Reserved') THEN 'Committed'
        WHEN purchase_option = 'Spot' THEN 'Dynamic'
        ELSE 'Standard'
    END AS PricingCategory,
    currency AS PricingCurrency,
    CASE
        WHEN pricing_quantity IS NULL THEN NULL
        WHEN pricing_quantity > 0 THEN CAST(contracted_cost AS DOUBLE) / pricing_quantity
        ELSE 0.0
    END AS PricingCurrencyContractedUnitPrice,
    CAST(CASE WHEN companion THEN net_amortized_cost WHEN category = 'Purchase' THEN 0 ELSE net_amortized_cost END
         AS DECIMAL(18, 10)) AS PricingCurrencyEffectiveCost,
    CASE
        WHEN pricing_quantity IS NULL THEN NULL
        WHEN pricing_quantity > 0 THEN CAST(list_cost AS DOUBLE) / pricing_quantity
        ELSE 0.0
    END AS PricingCurrencyListUnitPrice,
    pricing_quantity AS PricingQuantity,
    CASE WHEN pricing_quantity IS NOT NULL THEN focus_unit END AS PricingUnit,
    CAST($provider_name AS VARCHAR) AS ProviderName,
    CAST($publisher_name AS VARCHAR) AS PublisherName,
    region AS RegionId,
    CASE WHEN region IS NOT NULL THEN coalesce(map($region_codes, $region_names)[region], region) END AS RegionName,
    resource_id AS ResourceId,
    resource_id AS ResourceName,
    CASE WHEN resource_id IS NOT NULL THEN coalesce(product_family, service_name, service_code) END AS ResourceType,
    coalesce(map($service_codes, $service_categories)[service_code], 'Other') AS ServiceCategory,
    coalesce(service_name, service_code) AS ServiceName,
    coalesce(map($service_codes, $service_subcategories)[service_code], 'Other (Other)') AS ServiceSubcategory,
    CAST(NULL AS VARCHAR) AS SkuId,  -- from `skus`, below
    CASE WHEN category IN ('Usage', 'Purchase') THEN coalesce(usage_type, line_item_type) END AS SkuMeter,
    CAST(NULL AS VARCHAR) AS SkuPriceId,  -- from `skus`, below
    CAST(NULL AS VARCHAR) AS SkuPriceDetails,
    usage_account_id AS SubAccountId,
    coalesce(usage_account_name, usage_account_id) AS SubAccountName,
    CASE WHEN usage_account_id = payer_account_id THEN $payer_sub_account_type ELSE $sub_account_type END AS SubAccountType,
    CAST(to_json(tag_map) AS VARCHAR) AS Tags,
    operation AS x_Operation,
    service_code AS x_ServiceCode,
    -- curlake's own columns: what cost_line_items holds beyond FOCUS, so that an ingest of this
    -- export gives back the same line item types, gross costs and product attributes.
    CASE WHEN companion THEN 'Amortization' ELSE 'LineItem' END AS x_RowKind,
    line_item_type AS x_LineItemType,
    line_item_id AS x_LineItemId,
    usage_type AS x_UsageType,
    pricing_unit AS x_PricingUnit,
    purchase_option AS x_PurchaseOption,
    CASE WHEN companion THEN 0.0 ELSE usage_amount END AS x_UsageAmount,
    CAST(CASE WHEN companion THEN 0 ELSE unblended_cost END AS DECIMAL(18, 10)) AS x_UnblendedCost,
    CAST(CASE WHEN companion THEN amortized_cost WHEN category = 'Purchase' THEN 0 ELSE amortized_cost END
         AS DECIMAL(18, 10)) AS x_AmortizedCost,
    product_family AS x_ProductFamily,
    instance_type AS x_InstanceType,
    processor AS x_Processor,
    operating_system AS x_OperatingSystem,
    storage_class AS x_StorageClass,
    volume_api_name AS x_VolumeApiName,
    CAST(to_json(coalesce(cost_category, MAP {})) AS VARCHAR) AS x_CostCategories,
    category IN ('Usage', 'Purchase') AS has_sku
FROM priced
)
-- Every row's key is in `skus` (built from the same rows), once: the join keeps each row once.
SELECT
    f.* EXCLUDE (has_sku) REPLACE (
        CASE WHEN f.has_sku THEN s.sku_id END AS SkuId,
        CASE WHEN f.has_sku THEN s.sku_price_id END AS SkuPriceId
    )
FROM focus AS f
LEFT JOIN skus AS s
    ON s.service_code = f.x_ServiceCode
   AND s.usage_type IS NOT DISTINCT FROM f.x_UsageType
   AND s.operation IS NOT DISTINCT FROM f.x_Operation
   AND s.purchase_option = f.x_PurchaseOption
