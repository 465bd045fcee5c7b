"""Expectation suites, one module per table they gate."""
