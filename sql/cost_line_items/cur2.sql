-- cost_line_items, step 2 of 3 for CUR 2.0 Data Exports (Parquet and CSV).
-- Input `staged`: the CUR 2.0 columns conformed by transforms/readers/staging.py (maps are MAPs,
-- whether the export wrote them as Parquet maps or as JSON text in CSV; `tags` already has the
-- normalized keys of transforms/tags.py and `cost_category` no empty values: staging lists the
-- month's distinct map keys first and normalizes each once, not once per row).
-- Output: the format-neutral columns normalize.sql reads. CUR 2.0 keeps product attributes in the
-- `product` map (legacy CUR has one column per attribute: see legacy.sql).
SELECT
    * EXCLUDE (product, product_region_code),
    NULLIF(product['product_name'], '') AS service_name,
    coalesce(product_region_code, NULLIF(product['region'], '')) AS region,
    NULLIF(product['physical_processor'], '') AS physical_processor,
    NULLIF(product['operating_system'], '') AS operating_system,
    NULLIF(product['storage_class'], '') AS storage_class,
    NULLIF(product['volume_api_name'], '') AS volume_api_name
FROM staged
