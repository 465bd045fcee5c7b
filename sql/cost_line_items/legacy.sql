-- cost_line_items, step 2 of 3 for legacy CUR (Athena Parquet and CSV).
-- Input `staged`: the legacy columns under their Athena names, conformed by
-- transforms/readers/staging.py (CSV headers such as product/physicalProcessor are renamed by
-- AWS's Athena rule; the one-column-per-tag and per-cost-category columns are already packed
-- into the `tags` and `cost_category` maps, tag keys normalized by name).
-- Output: the format-neutral columns normalize.sql reads.
SELECT
    * EXCLUDE (
        product_region_code, product_product_name, product_region, product_physical_processor,
        product_operating_system, product_storage_class, product_volume_api_name
    ),
    product_product_name AS service_name,
    coalesce(product_region_code, product_region) AS region,
    product_physical_processor AS physical_processor,
    product_operating_system AS operating_system,
    product_storage_class AS storage_class,
    product_volume_api_name AS volume_api_name
FROM staged
