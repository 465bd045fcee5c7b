"""Where files live: local paths or ``s3://`` URLs, behind one fsspec interface.

S3 is reached through s3fs (never DuckDB's httpfs, which downloads an extension at run time).
Credentials come only from the standard AWS chain (environment, profile, instance role); an
S3-compatible endpoint is taken from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import posixpath
from functools import lru_cache

import fsspec


def is_s3(url: str) -> bool:
    return str(url).startswith("s3://")


def join(root: str, *parts: str) -> str:
    root = str(root)
    if is_s3(root):
        return posixpath.join(root.rstrip("/"), *parts)
    return os.path.join(root, *parts)


def s3_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


@lru_cache(maxsize=8)
def _s3fs(endpoint: str | None):
    import s3fs

    client_kwargs = {"endpoint_url": endpoint} if endpoint else {}
    return s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        config_kwargs={"retries": {"max_attempts": 5, "mode": "standard"}},
        # Listings must reflect re-deliveries: never serve a cached directory listing.
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def filesystem(url: str) -> fsspec.AbstractFileSystem:
    """The filesystem that serves ``url`` (s3fs for ``s3://``, the local one otherwise)."""
    if is_s3(url):
        return _s3fs(s3_endpoint())
    return fsspec.filesystem("file")


def strip_protocol(url: str) -> str:
    """``s3://bucket/key`` -> ``bucket/key`` (what fsspec methods return); local paths unchanged."""
    return url[len("s3://"):] if is_s3(url) else url


def with_protocol(path: str, like: str) -> str:
    """Give a path returned by fsspec the protocol of ``like`` again."""
    if is_s3(like) and not path.startswith("s3://"):
        return "s3://" + path
    return path
