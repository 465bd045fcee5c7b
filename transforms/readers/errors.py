"""IngestError, and the bridge from row-level checks that run inside DuckDB.

File- and schema-level problems (missing column, corrupt or empty file, manifest naming a missing
file) are found before a relation is returned and raise IngestError directly. Row-level problems
(unknown line item type, a row of another billing period, a cost that does not fit
DECIMAL(18,10)) can only be seen while DuckDB streams the rows, so the SQL raises them with
``error('IngestError: <file>: ...')``; run the relation inside ``ingest_errors()`` to get them as
IngestError too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

# Prefix of the messages our SQL raises with error(); ingest_errors() looks for it.
MARKER = "IngestError: "


class IngestError(ValueError):
    """A source file or delivery that cannot be ingested; the message starts with the path."""


@contextmanager
def ingest_errors() -> Iterator[None]:
    """Re-raise DuckDB errors raised by our row checks as IngestError (others pass unchanged)."""
    try:
        yield
    except duckdb.Error as exc:
        message = str(exc)
        if MARKER in message:
            raise IngestError(message.split(MARKER, 1)[1].strip()) from exc
        raise
