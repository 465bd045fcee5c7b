-- cost_line_items, step 2 of 3 for CUR 2.0 Data Exports (Parquet and CSV).
-- Input `staged`: the CUR 2.0 columns conformed by transforms/readers/staging.py (maps are MAPs,
-- whether the export wrote them as Parquet maps or as JSON text in CSV).
-- Output: the format-neutral columns normalize.sql reads. CUR 2.0 keeps product attributes in the
-- `product` map and tags in the `resource_tags` map, whose keys are normalized here per row with
-- the rules of transforms/tags.py (legacy CUR has one column per tag: see legacy.sql).
WITH tag_entries AS (
    SELECT
        *,
        -- Keys trimmed and lowercased, then user_/user: removed and aws: -> aws_; entries with an
        -- empty key or value dropped; sorted by (normalized key, raw key) so that the entry to keep
        -- for each key, the first in raw-key order, comes first among its duplicates.
        list_sort(list_filter(
            list_transform(
                list_transform(
                    map_entries(resource_tags),
                    lambda e: {'k': lower(trim(e.key, ' ' || chr(9) || chr(10) || chr(13))), 'raw': e.key, 'v': e.value}
                ),
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
            lambda e: e.k <> '' AND e.v <> ''
        )) AS tag_list
    FROM staged
)
SELECT
    * EXCLUDE (product, product_region_code, resource_tags, tag_list, cost_category),
    NULLIF(product['product_name'], '') AS service_name,
    coalesce(product_region_code, NULLIF(product['region'], '')) AS region,
    NULLIF(product['physical_processor'], '') AS physical_processor,
    NULLIF(product['operating_system'], '') AS operating_system,
    NULLIF(product['storage_class'], '') AS storage_class,
    NULLIF(product['volume_api_name'], '') AS volume_api_name,
    -- Keep each entry whose key differs from the previous entry's (pairs with the predecessor).
    map_from_entries(list_transform(
        list_filter(
            list_zip(tag_list, list_prepend(NULL, list_slice(tag_list, 1, len(tag_list) - 1))),
            lambda p: p[1] IS NOT NULL AND (p[2] IS NULL OR p[1].k <> p[2].k)
        ),
        lambda p: {'key': p[1].k, 'value': p[1].v}
    )) AS tags,
    CASE
        WHEN list_contains(map_values(cost_category), '') OR list_count(map_values(cost_category)) < cardinality(cost_category)
            THEN map_from_entries(list_filter(map_entries(cost_category), lambda e: e.value <> ''))
        ELSE cost_category
    END AS cost_category
FROM tag_entries
