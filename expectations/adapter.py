"""Run a Great Expectations 1.x suite on a pandas DataFrame and return plain Python results.

GX is only ever given small pandas frames (profiles computed by DuckDB, or files that are small
by nature), never a SQL datasource: GX through SQLAlchemy on duckdb-engine silently returns
empty results. Callers see `SuiteResult`/`ExpectationOutcome`, never a GX object, so gates and
tests do not depend on GX's result layout.

Two GX behaviours this adapter guards against:
- an expectation whose metric raised (e.g. a column that does not exist) comes back with
  ``exception_info`` set; that is a FAILED expectation here, whatever ``success`` says;
- results do not come back in suite order; outcomes are put back in suite order.

GX takes seconds to import, so it is imported inside functions (importing `expectations` stays
fast), and the ephemeral context is created once per process and reused.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import great_expectations as gx
    import pandas as pd

# How many unexpected values / rows an outcome keeps and a summary shows.
SAMPLE = 10

_VALIDATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExpectationOutcome:
    """One evaluated expectation.

    ``observed`` is GX's ``observed_value`` where it has one, else the number of unexpected rows.
    ``details`` holds plain values: ``message`` (one line, human-readable), ``description``,
    ``unexpected_count``, ``unexpected_values`` and ``rows`` (the first few; rows are frame
    index labels named by ``row_label``), ``exception`` (text of a raised exception).
    """

    expectation: str
    column: str | None
    success: bool
    observed: object
    details: dict = field(default_factory=dict)

    def message(self) -> str:
        return self.details.get("message") or f"{self.expectation} {'passed' if self.success else 'failed'}"


class SuiteFailed(Exception):
    """Raised by `SuiteResult.raise_if_failed`: a gate that must stop downstream tables."""

    def __init__(self, result: SuiteResult) -> None:
        super().__init__(result.summary())
        self.result = result


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]

    def failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def summary(self) -> str:
        """One header line, then one line per failed expectation naming column, values and rows."""
        failed = self.failures()
        if not failed:
            return f"{self.suite}: passed ({len(self.outcomes)} expectations)"
        lines = [f"{self.suite}: FAILED ({len(failed)} of {len(self.outcomes)} expectations failed)"]
        lines += [f"  - {o.message()}" for o in failed]
        return "\n".join(lines)

    def raise_if_failed(self) -> SuiteResult:
        if not self.success:
            raise SuiteFailed(self)
        return self


def combine(suite: str, *results: SuiteResult | ExpectationOutcome) -> SuiteResult:
    """One result holding every outcome of several suites and SQL checks, in the order given."""
    outcomes: list[ExpectationOutcome] = []
    for r in results:
        outcomes.extend(r.outcomes if isinstance(r, SuiteResult) else (r,))
    return SuiteResult(suite, all(o.success for o in outcomes), tuple(outcomes))


@lru_cache(maxsize=1)
def _batch_definition():
    """The process-wide ephemeral context's whole-dataframe batch definition (built once: ~10 ms)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(project_config=config, mode="ephemeral")
    asset = context.data_sources.add_pandas("curlake").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole")


def run_suite(
    suite: gx.ExpectationSuite | list[gx.expectations.Expectation],
    frame: pd.DataFrame,
    name: str,
) -> SuiteResult:
    """Validate ``frame`` against ``suite`` and return one outcome per expectation, in suite order.

    Rows are reported by the frame's index labels when the index is named, and the index name
    (``line``, ``column``...) is the word summaries use for them: callers choose how rows are named
    by indexing the frame. Positions in an unnamed index mean nothing to a reader and are left out.
    An expectation that raised, or that GX returned no result for, is a failed outcome.
    """
    import great_expectations as gx

    expectations = list(suite.expectations if isinstance(suite, gx.ExpectationSuite) else suite)
    gx_suite = suite if isinstance(suite, gx.ExpectationSuite) else gx.ExpectationSuite(name=name, expectations=expectations)
    row_label = str(frame.index.name) if frame.index.name is not None else None
    try:
        with _VALIDATE_LOCK:
            batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
            validation = batch.validate(gx_suite, result_format={"result_format": "COMPLETE"})
    except Exception as exc:  # GX itself failed: every expectation counts as failed
        outcomes = tuple(_raised(e, exc) for e in expectations)
        return SuiteResult(name, False, outcomes)

    unmatched = list(validation.results)
    outcomes = []
    for expectation in expectations:
        result = _take_result(unmatched, expectation)
        outcomes.append(
            _outcome(expectation, result, row_label)
            if result is not None
            else _raised(expectation, RuntimeError("Great Expectations returned no result for this expectation"))
        )
    return SuiteResult(name, all(o.success for o in outcomes), tuple(outcomes))


def _kwargs(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k != "batch_id"}


def _take_result(results: list, expectation) -> Any:
    """Pop the result that belongs to ``expectation`` (same type and arguments) from ``results``."""
    config = expectation.configuration
    for i, result in enumerate(results):
        rc = result.expectation_config
        if rc.type == config.type and _kwargs(rc.kwargs) == _kwargs(config.kwargs):
            return results.pop(i)
    return None


def _column(kwargs: dict) -> str | None:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if "column_list" in kwargs:
        return ", ".join(map(str, kwargs["column_list"]))
    return None


def _exception_text(exception_info: dict | None) -> str | None:
    """GX nests exception_info by metric id when a metric raised, or keeps it flat: read both."""
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    messages = [
        str(info.get("exception_message") or "exception raised")
        for info in infos
        if isinstance(info, dict) and info.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(messages)) or None


def plain(value: Any) -> Any:
    """numpy/pandas scalars to Python ones, NaN/NaT to None, containers recursively."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if hasattr(value, "isoformat") and hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def show(value: Any) -> str:
    """A value as a summary shows it: quoted strings, ISO dates, null for missing."""
    value = plain(value)
    if value is None:
        return "null"
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (int, float, Decimal, bool)):
        return str(value)
    return repr(value) if isinstance(value, str) else str(value)


def _row_labels(index_list: list, row_label: str) -> list:
    """GX gives {column: value, index_name: label} per row when the index is named, else labels."""
    return [plain(i.get(row_label, i) if isinstance(i, dict) else i) for i in index_list[:SAMPLE]]


def _outcome(expectation, result, row_label: str | None) -> ExpectationOutcome:
    config = expectation.configuration
    column = _column(config.kwargs)
    res = dict(result.result or {})
    error = _exception_text(result.exception_info)
    success = bool(result.success) and error is None
    observed = plain(res["observed_value"]) if "observed_value" in res else plain(res.get("unexpected_count"))
    details: dict[str, Any] = {}
    if expectation.description:
        details["description"] = expectation.description
    if error is not None:
        details["exception"] = error
    if "unexpected_count" in res:
        details["unexpected_count"] = plain(res["unexpected_count"])
        details["unexpected_values"] = plain(res.get("unexpected_list", res.get("partial_unexpected_list", []))[:SAMPLE])
        if row_label is not None:
            index_list = res.get("unexpected_index_list", res.get("partial_unexpected_index_list", []))
            details["rows"] = _row_labels(index_list, row_label)
            details["row_label"] = row_label
    if "details" in res:
        details["gx_details"] = plain(res["details"])
    details["message"] = _message(config.type, column, success, observed, details)
    return ExpectationOutcome(config.type, column, success, observed, details)


def _raised(expectation, exc: BaseException) -> ExpectationOutcome:
    config = expectation.configuration
    column = _column(config.kwargs)
    details = {"exception": f"{type(exc).__name__}: {exc}"}
    if expectation.description:
        details["description"] = expectation.description
    details["message"] = _message(config.type, column, False, None, details)
    return ExpectationOutcome(config.type, column, False, None, details)


def _message(kind: str, column: str | None, success: bool, observed: Any, details: dict) -> str:
    """``expect_x, column 'team' (what it checks): 1 unexpected value: 'chekout' at line 5``."""
    head = kind + (f", column {column!r}" if column is not None else "")
    if details.get("description"):
        head += f" ({details['description']})"
    if "exception" in details:
        return f"{head}: raised an exception, counted as failed: {details['exception']}"
    if "unexpected_count" in details and not success:
        n = details["unexpected_count"]
        values = ", ".join(show(v) for v in details["unexpected_values"])
        text = f"{head}: {n} unexpected value{'s' if n != 1 else ''}: {values}"
        if details.get("rows"):
            rows = ", ".join(show(r) for r in details["rows"])
            text += f" at {details['row_label']}{'s' if len(details['rows']) > 1 else ''} {rows}"
        return text + (" ..." if n > len(details["unexpected_values"]) else "")
    if success:
        return f"{head}: passed"
    return f"{head}: failed" + (f", observed {show(observed)}" if observed is not None else "")
