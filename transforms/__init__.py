"""Pure data transforms of curlake: readers, normalization, writers and the SQL runner.

Nothing here imports dagster or any other curlake package.
"""
