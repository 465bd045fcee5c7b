"""Data-quality gates: GX suites on small pandas frames, volume/sum/uniqueness checks in DuckDB SQL.

Importing this package is cheap: Great Expectations is imported only when a suite runs.
Never imports dagster.
"""

from expectations.adapter import ExpectationOutcome, SuiteFailed, SuiteResult, combine, run_suite

__all__ = ["ExpectationOutcome", "SuiteFailed", "SuiteResult", "combine", "run_suite"]
