-- classified: the line items of the periods read, each with its owner and the efficiency-KPI
-- classes it falls in (definitions: /work/shared/reference/FINOPS_DEFINITIONS.md, "Efficiency KPIs",
-- and docs/credit_score.md). Reads the CTE `allocated` (transforms.allocation allocated line items).
-- Owner: the allocated team; shared-pool items belong to $shared_owner, unowned ones to $unallocated_owner.
-- Split cost allocation rows (EKSPod-EC2, ECSTask-EC2) repeat their parent instance's cost: left out.
-- Parameters: $billing_period, $periods (this and the previous billing period),
-- $read_from (the first usage date read from the previous one), $shared_owner, $unallocated_owner,
-- $graviton_equivalents, $previous_generation (STRUCT(family, target)[]), $s3_tiered_classes,
-- $required_tags, $team_values, $product_values, $environment_values, $cost_center_values,
-- $taggable_categories, $require_resource_id.
WITH base AS (
    SELECT
        a.*,
        a.line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') AS is_usage,
        -- Offsets: discounts, credits, refunds and the SP negation take cost off other line items
        -- (their amortized cost is negative or zero); they charge for no resource, even with a resource id.
        -- ($offset_line_item_types: transforms.schema.OFFSET_LINE_ITEM_TYPES, as in tag_compliance.)
        list_contains(CAST($offset_line_item_types AS VARCHAR[]), a.line_item_type) AS is_offset,
        coalesce(a.usage_type, '') AS ut
    FROM allocated AS a
    WHERE a.billing_period IN (SELECT unnest(CAST($periods AS VARCHAR[])))
        -- of the previous period, only the days of this period's first week
        AND (a.billing_period = $billing_period OR a.usage_date >= $read_from)
        AND coalesce(a.operation, '') NOT IN ('EKSPod-EC2', 'ECSTask-EC2')
),
kinds AS (
    SELECT
        *,
        -- Compute usage the commitment and Graviton KPIs look at: instance hours, Lambda duration,
        -- Fargate vCPU/memory hours. Storage, requests and data transfer are not compute.
        CASE
            WHEN NOT is_usage THEN NULL
            WHEN service_code = 'AmazonEC2' AND regexp_matches(ut, '(Box|Spot|Dedicated|Host)Usage') THEN 'ec2'
            WHEN service_code = 'AmazonRDS' AND regexp_matches(ut, '(InstanceUsage|Multi-AZUsage|Multi-AZClusterUsage)') THEN 'rds'
            WHEN service_code = 'AmazonElastiCache' AND contains(ut, 'NodeUsage') THEN 'elasticache'
            WHEN service_code = 'AmazonES' AND contains(ut, 'ESInstance') THEN 'opensearch'
            WHEN service_code = 'AmazonRedshift' AND contains(ut, 'Node:') THEN 'redshift'
            WHEN service_code = 'AWSLambda' AND regexp_matches(ut, 'Lambda-(GB-Second|Provisioned)') THEN 'lambda'
            WHEN service_code IN ('AmazonECS', 'AmazonEKS') AND contains(ut, 'Fargate') THEN 'fargate'
        END AS compute_kind
    FROM base
),
flagged AS (
    SELECT
        k.*,
        k.compute_kind IS NOT NULL AND (
            k.processor = 'Graviton'
            OR (k.compute_kind IN ('elasticache', 'opensearch')
                AND regexp_full_match(coalesce(k.instance_family, ''), '[a-z]+[6-8]g[dn]?'))
        ) AS is_graviton,
        CASE WHEN k.compute_kind IN ('lambda', 'fargate') THEN 'arm64' ELSE ge.target END AS graviton_target,
        pg.target AS successor_family,
        coalesce(k.operating_system ILIKE 'Windows%', false) AS is_windows
    FROM kinds AS k
    LEFT JOIN (SELECT unnest(CAST($graviton_equivalents AS STRUCT(family VARCHAR, target VARCHAR)[]), recursive := true))
        AS ge ON ge.family = k.instance_family AND k.compute_kind IN ('ec2', 'rds', 'elasticache', 'opensearch', 'redshift')
    LEFT JOIN (SELECT unnest(CAST($previous_generation AS STRUCT(family VARCHAR, target VARCHAR)[]), recursive := true))
        AS pg ON pg.family = k.instance_family
)
SELECT
    billing_period,
    usage_date,
    usage_account_id,
    CASE
        WHEN team IS NOT NULL THEN team
        WHEN allocation_method = 'shared' THEN CAST($shared_owner AS VARCHAR)
        ELSE CAST($unallocated_owner AS VARCHAR)
    END AS team,
    service_code,
    line_item_type,
    purchase_option,
    commitment_type,
    coalesce(commitment_arn, '') AS commitment_arn,
    instance_type,
    instance_family,
    resource_id,
    compute_kind,
    graviton_target,
    successor_family,
    amortized_cost,
    public_on_demand_cost,
    -- Graviton coverage: Graviton compute rows / (Graviton rows + non-Windows OnDemand or Compute SP
    -- usage whose family has a Graviton equivalent).
    is_graviton AS graviton_num,
    is_graviton OR (
        compute_kind IS NOT NULL AND NOT is_windows AND graviton_target IS NOT NULL
        AND (purchase_option = 'OnDemand' OR (purchase_option = 'SavingsPlan' AND commitment_type = 'ComputeSavingsPlans'))
    ) AS graviton_den,
    -- Spot coverage (public cost): EC2 instance usage except RI and EC2 Instance SP.
    compute_kind = 'ec2' AND purchase_option = 'Spot' AS spot_num,
    compute_kind = 'ec2' AND purchase_option <> 'Reserved' AND coalesce(commitment_type, '') <> 'EC2InstanceSavingsPlans'
        AS spot_den,
    -- Commitment coverage: SP/RI-covered compute / commitment-eligible compute (Spot is not eligible).
    compute_kind IS NOT NULL AND purchase_option IN ('SavingsPlan', 'Reserved') AS coverage_num,
    compute_kind IS NOT NULL AND purchase_option <> 'Spot' AS coverage_den,
    -- Commitment utilization: used = covered usage, unused = the RIFee / SP recurring fee amortized part.
    line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage') AS commitment_used,
    line_item_type IN ('RIFee', 'SavingsPlanRecurringFee') AS commitment_unused,
    -- gp3 share: EBS volume usage, gp3 / (gp2 + gp3).
    is_usage AND contains(ut, 'EBS:VolumeUsage') AND volume_api_name = 'gp3' AS gp3_num,
    is_usage AND contains(ut, 'EBS:VolumeUsage') AND volume_api_name IN ('gp2', 'gp3') AS gp3_den,
    -- S3 storage class share: S3 storage in a tiered class / all S3 storage.
    is_usage AND service_code = 'AmazonS3' AND contains(ut, 'TimedStorage')
        AND coalesce(list_contains(CAST($s3_tiered_classes AS VARCHAR[]), storage_class), false) AS s3_num,
    is_usage AND service_code = 'AmazonS3' AND contains(ut, 'TimedStorage') AS s3_den,
    -- Previous generation share: instance usage of a previous-generation family / all instance usage.
    compute_kind IN ('ec2', 'rds', 'elasticache', 'opensearch', 'redshift') AND successor_family IS NOT NULL
        AS previous_generation_num,
    compute_kind IN ('ec2', 'rds', 'elasticache', 'opensearch', 'redshift') AS previous_generation_den,
    -- Tagging compliance: taggable cost carrying every required tag with a configured value.
    -- Taggable cost is gross of offsets, on both sides: an untagged discount with a resource id would
    -- otherwise lower the denominator and not the numerator, and the share could pass 1.
    list_contains(CAST($taggable_categories AS VARCHAR[]), charge_category) AND NOT is_offset
        AND (NOT $require_resource_id OR nullif(trim(resource_id), '') IS NOT NULL) AS tagging_den,
    (NOT list_contains(CAST($required_tags AS VARCHAR[]), 'team')
        OR coalesce(list_contains(CAST($team_values AS VARCHAR[]), tag_team), false))
    AND (NOT list_contains(CAST($required_tags AS VARCHAR[]), 'product')
        OR coalesce(list_contains(CAST($product_values AS VARCHAR[]), tag_product), false))
    AND (NOT list_contains(CAST($required_tags AS VARCHAR[]), 'environment')
        OR coalesce(list_contains(CAST($environment_values AS VARCHAR[]), tag_environment), false))
    AND (NOT list_contains(CAST($required_tags AS VARCHAR[]), 'cost_center')
        OR coalesce(list_contains(CAST($cost_center_values AS VARCHAR[]), tag_cost_center), false))
        AS tagged
FROM flagged
