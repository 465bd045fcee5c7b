"""Dagster orchestration of curlake: the only package that imports dagster."""
