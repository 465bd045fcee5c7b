"""IngestError, and the bridge from row-level checks that run inside DuckDB.

File- and schema-level problems (missing column, corrupt or empty file, manifest naming a missing
file) are found before a relation is returned and raise IngestError directly. Row-level problems
(unknown line item type, a row of another billing period, a cost that does not fit
DECIMAL(18,10)) can only be seen while DuckDB streams the rows, so the SQL raises them with
``error('IngestError: <file>: ...')``; run the relation inside ``ingest_errors()`` to get them as
IngestError too.

A file that cannot be *read* while the rows stream (S3 still failing after the retries, a file
overwritten mid-read, a truncated gzip, bytes that are not UTF-8) fails inside DuckDB too;
``ingest_errors(files)`` names the file and gives the cause in one line (``reason``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
from botocore.exceptions import BotoCoreError

# What reading through s3fs raises once its retries are spent: OSError (s3fs translates S3's
# errors), or one of botocore's connection errors (a reset, a closed connection), passed through.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, BotoCoreError)

# Prefix of the messages our SQL raises with error(); ingest_errors() looks for it.
MARKER = "IngestError: "


class IngestError(ValueError):
    """A source file or delivery that cannot be ingested; the message starts with the path."""


# What DuckDB puts in front of an exception raised by a Python filesystem (s3fs) it reads through.
_PYTHON_TRACEBACK = "Traceback (most recent call last)"
_CSV_ERROR = re.compile(r"CSV Error on Line: (\d+)")
_CSV_ADVICE = ("Possible Solution:", "  ")


def reason(exc: BaseException) -> str:
    """The cause of a DuckDB error in one line, without the text around it.

    DuckDB reports an exception of a Python filesystem as that exception's traceback, whose last
    line is the cause (``OSError: [Errno 16] ... SlowDown``); a CSV error's first line only says
    ``CSV Error on Line: 7`` and the problem is on a later line, after a copy of the row.
    """
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].startswith(_PYTHON_TRACEBACK):
        # The exception is the traceback's last unindented line, before DuckDB's "LINE 1: <query>".
        end = next((i for i, line in enumerate(lines) if line.startswith("LINE ")), len(lines))
        raised = [line for line in lines[1:end] if not line.startswith(" ")]
        return raised[-1].strip() if raised else lines[-1].strip()
    m = _CSV_ERROR.search(lines[0])
    if m:
        # The problem is the last line before DuckDB's advice and the reader's settings (a copy of
        # the row, of any content, comes before it).
        end = next((i for i, line in enumerate(lines) if line.startswith(_CSV_ADVICE)), len(lines))
        problem = lines[end - 1].strip() if end > 1 else ""
        return f"line {m.group(1)}: {problem}" if problem else f"line {m.group(1)}"
    return lines[0].strip()


def read_problem(exc: BaseException) -> str | None:
    """What kind of read failure a DuckDB error is, or None if it is not one (a bug in our SQL).

    "could not be read from storage": the filesystem (s3fs) raised, after its retries;
    "unreadable or corrupt file": DuckDB read the bytes but they are not a valid file
    (truncated gzip, bytes that are not UTF-8, a malformed CSV row).
    """
    text = str(exc)
    if text.startswith(_PYTHON_TRACEBACK):
        return "could not be read from storage"
    if text.startswith("IO Error") or _CSV_ERROR.search(text.split("\n", 1)[0]):
        return "unreadable or corrupt file"
    return None


@contextmanager
def ingest_errors(files: Sequence[str] = ()) -> Iterator[None]:
    """Re-raise DuckDB errors raised by our row checks as IngestError (others pass unchanged).

    With ``files`` (the delivery's paths), a file that cannot be read while the rows stream is an
    IngestError too, naming the file the error mentions (else every file it may be).
    """
    try:
        yield
    except IngestError:
        raise
    except Exception as raised:
        # The error of a query run for us by a writer (the lake's LakeError) is its cause.
        exc = raised if isinstance(raised, duckdb.Error) else raised.__cause__
        if not isinstance(exc, duckdb.Error):
            raise
        message = str(exc)
        if MARKER in message:
            raise IngestError(message.split(MARKER, 1)[1].strip()) from exc
        problem = read_problem(exc)
        if files and problem:
            raise IngestError(f"{_named_file(message, files)}: {problem}: {reason(exc)}") from exc
        raise


def _named_file(message: str, files: Sequence[str]) -> str:
    """The file of ``files`` an error message mentions (with or without ``s3://``), else all of them."""
    for path in files:
        if path in message or path.split("://", 1)[-1] in message:
            return path
    return files[0] if len(files) == 1 else f"one of {len(files)} files ({files[0]}, ...)"
