"""Business metrics (daily revenue, orders, active users, requests) and monthly budgets.

Loaded from CSV or Parquet (local or s3://), gated by GX suites and DuckDB checks, materialized
as the curated tables `business_metrics_daily` and `budgets`. See README.md for the file formats.
Never imports dagster.
"""
