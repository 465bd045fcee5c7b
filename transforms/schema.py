"""The canonical line-item table, `cost_line_items`: one row per CUR line item, whatever the source format.

This is the contract between ingestion and every curated table downstream. Readers of each
source format (CUR 2.0 Parquet/CSV, legacy CUR Athena Parquet/CSV, FOCUS) produce exactly these
columns, in this order, with these DuckDB types.

Money columns are DECIMAL(18,10): sums in DuckDB are exact (they widen to DECIMAL(38,10)), so
totals reconcile to the cent however many rows there are. Scale 10 keeps every digit AWS
delivers (CUR costs carry at most 10 decimals); precision 18 allows +/-99,999,999 per line item.
"""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "DECIMAL(18,10)"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    nullable: bool = True


COST_LINE_ITEMS: tuple[Column, ...] = (
    Column("billing_period", "VARCHAR", "Billing period, 'YYYY-MM' (the partition key).", False),
    Column("usage_start", "TIMESTAMP", "Start of the usage hour (UTC, no time zone). Daily for daily-granularity sources.", False),
    Column("usage_date", "DATE", "Day of usage_start (UTC).", False),
    Column("payer_account_id", "VARCHAR", "Management (payer) account id.", False),
    Column("usage_account_id", "VARCHAR", "Linked (usage) account id.", False),
    Column("usage_account_name", "VARCHAR", "Linked account name, where the source carries it."),
    Column("service_code", "VARCHAR", "AWS product code (line_item_product_code), e.g. AmazonEC2.", False),
    Column("service_name", "VARCHAR", "Human-readable service name (product['product_name'])."),
    Column("region", "VARCHAR", "Region code, e.g. us-east-1; null for global charges."),
    Column("availability_zone", "VARCHAR", "Availability zone, where the usage has one."),
    Column("usage_type", "VARCHAR", "line_item_usage_type, e.g. USE1-BoxUsage:m7g.large."),
    Column("operation", "VARCHAR", "line_item_operation, e.g. RunInstances."),
    Column("resource_id", "VARCHAR", "Resource id or ARN; null for charges without a resource."),
    Column("line_item_type", "VARCHAR", "CUR line item type (Usage, DiscountedUsage, SavingsPlanCoveredUsage, Tax, ...).", False),
    Column("charge_category", "VARCHAR", "FOCUS charge category: Usage, Purchase, Adjustment or Tax.", False),
    Column("purchase_option", "VARCHAR", "OnDemand, Spot, SavingsPlan or Reserved (FINOPS_DEFINITIONS.md rule).", False),
    Column("commitment_arn", "VARCHAR", "Savings Plan or reservation ARN that covers or bills this row."),
    Column("commitment_type", "VARCHAR", "ComputeSavingsPlans, EC2InstanceSavingsPlans, SageMakerSavingsPlans or Reserved."),
    Column("product_family", "VARCHAR", "product_product_family, e.g. Compute Instance, Storage."),
    Column("instance_type", "VARCHAR", "Instance type, e.g. m7g.large (EC2, RDS db.*, ElastiCache cache.*)."),
    Column("instance_family", "VARCHAR", "Instance family, e.g. m7g (the type without its size, db./cache. prefix removed)."),
    Column("processor", "VARCHAR", "Intel, AMD, Graviton or Other, from product['physical_processor'] (or ARM usage types)."),
    Column("operating_system", "VARCHAR", "product['operating_system'], e.g. Linux, Windows."),
    Column("storage_class", "VARCHAR", "product['storage_class'] for S3, e.g. General Purpose, Infrequent Access."),
    Column("volume_api_name", "VARCHAR", "product['volume_api_name'] for EBS, e.g. gp2, gp3."),
    Column("pricing_unit", "VARCHAR", "Unit of usage_amount, e.g. Hrs, GB-Mo."),
    Column("usage_amount", "DOUBLE", "line_item_usage_amount."),
    Column("currency", "VARCHAR", "Billing currency code, e.g. USD.", False),
    Column("unblended_cost", MONEY, "line_item_unblended_cost: what the invoice shows before amortization.", False),
    Column("net_unblended_cost", MONEY, "line_item_net_unblended_cost, falling back to unblended where absent.", False),
    Column("amortized_cost", MONEY, "Amortized cost, by line item type per FINOPS_DEFINITIONS.md.", False),
    Column("net_amortized_cost", MONEY, "Amortized cost from the net_ columns, falling back to the gross ones.", False),
    Column("public_on_demand_cost", MONEY, "pricing_public_on_demand_cost (list cost); 0 where absent.", False),
    Column("tags", "MAP(VARCHAR, VARCHAR)", "Resource tags with normalized keys (see transforms.tags), user_ prefix removed; aws_ tags keep theirs."),
    Column("cost_category", "MAP(VARCHAR, VARCHAR)", "AWS Cost Categories of the row."),
    Column("line_item_id", "VARCHAR", "identity_line_item_id (not unique across hours: id plus time interval is)."),
    Column("source_format", "VARCHAR", "cur2-parquet, cur2-csv, legacy-parquet, legacy-csv or focus.", False),
    Column("source_file", "VARCHAR", "Path or URL of the file this row was read from.", False),
    Column("delivery_id", "VARCHAR", "Identifier of the delivery (manifest assembly id, else a hash of file ETags and sizes).", False),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COST_LINE_ITEMS)
MONEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in COST_LINE_ITEMS if c.type == MONEY)

LINE_ITEM_TYPES: frozenset[str] = frozenset(
    {
        "Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation",
        "SavingsPlanUpfrontFee", "SavingsPlanRecurringFee", "RIFee", "Fee", "Credit", "Refund",
        "Tax", "BundledDiscount", "EdpDiscount", "PrivateRateDiscount", "RiVolumeDiscount",
        "SppDiscount", "Discount",
    }
)

# Line items that take cost off others (their amortized cost is negative or zero) and charge for no
# resource, even where they carry a resource id: left out of both sides of every taggable-cost share.
OFFSET_LINE_ITEM_TYPES: tuple[str, ...] = (
    "BundledDiscount", "Credit", "Discount", "EdpDiscount", "PrivateRateDiscount", "Refund",
    "RiVolumeDiscount", "SavingsPlanNegation", "SppDiscount",
)

CHARGE_CATEGORIES: frozenset[str] = frozenset({"Usage", "Purchase", "Adjustment", "Tax"})
PURCHASE_OPTIONS: frozenset[str] = frozenset({"OnDemand", "Spot", "SavingsPlan", "Reserved"})


def create_table_sql(table: str = "cost_line_items") -> str:
    """DDL for an empty table with the canonical columns (identifier quoted by us: fixed names only)."""
    cols = ",\n  ".join(f'"{c.name}" {c.type}' for c in COST_LINE_ITEMS)
    return f'CREATE TABLE "{table}" (\n  {cols}\n)'
