"""Synthetic AWS bills (CUR 2.0 Parquet/CSV, legacy CUR Parquet) with business drivers.

``generate(out, months, rows_per_month, ...)`` is the entry point (``transforms.generate.bill``).

What a generated bill holds (every later table is tested on it):

- The organization of ``org``: two payers, twelve accounts, twelve teams. Hourly, resource-level
  line items: EC2 (Intel, AMD, Graviton; Linux and Windows; m4/c4 previous generation), EBS gp2
  and gp3 volumes and snapshots, RDS (incl. Graviton db.r7g), S3 storage classes and requests,
  Lambda x86 and ARM, EKS clusters, NAT gateways, inter-AZ and internet data transfer,
  ElastiCache and OpenSearch.
- Purchase options: On-Demand, Spot, Compute Savings Plans (one per payer: covered usage, its
  negation, an hourly recurring fee sized to the peak covered hour) and reservations (DiscountedUsage
  and a monthly RIFee with its unused parts). Then per month: AWS Business support fees, Tax,
  Credit, Refund and EdpDiscount lines; every row carries net_ costs after the payer's EDP rate.
- Tags in ``resource_tags`` (team under three key spellings, product, environment, cost center,
  application from the second month, EKS cluster, aws_createdBy); about a third of amortized
  spend carries no team tag (fees and tax included).
- Labeled anomalies (``anomalies.json``): two or three spikes a month, each one team and service
  in one account for 1-3 days, as extra resources inside the exact row count.
- Conventions: strings a row does not use are '' (as AWS writes them), numbers null; timestamps
  are UTC without a time zone. Same arguments, same bytes.
"""

from transforms.generate.bill import FORMATS, GeneratedFile, GenerationResult, generate

__all__ = ["FORMATS", "GeneratedFile", "GenerationResult", "generate"]
