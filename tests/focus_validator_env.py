"""The FinOps Foundation's FOCUS validator (``focus-validator`` 2.2.1) in an environment of its own.

curlake runs on Python 3.11; the validator needs Python 3.12 or later and pins its own duckdb,
polars and pandas, so it gets a virtual environment under ``<repo>/.cache/focus-validator``
(git-ignored by a ``.gitignore`` written there), built once and reused while its stamp matches.

Quirks handled here, seen with 2.2.1:
- it reads ``focus_validator/rules/currency_codes.csv`` relative to the working directory, so it
  runs from its own site-packages folder;
- its pin says numpy < 2, but a current pyarrow refuses numpy 1, so it is installed without its
  dependencies and they are installed from ``REQUIREMENTS``, its list with numpy 2;
- it prints ``Total: N | Pass: N | Fail: N | Skipped: N`` and exits 0 even when rules fail:
  callers must read the counts (``ValidatorRun``);
- ``--block-download`` keeps it from fetching the FOCUS rules from GitHub (offline machines).

Run ``python tests/focus_validator_env.py setup`` to build the environment (CI does it before the
tests), ``python tests/focus_validator_env.py validate FILE`` to validate a FOCUS file.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("CURLAKE_CACHE_DIR", REPO / ".cache"))
VALIDATOR = "focus-validator==2.2.1"
# The validator's own requirements (its pyproject.toml), installed beside it, with numpy 2
# instead of its numpy<2 pin: the pyarrow it accepts refuses numpy 1, and numpy 1 has no wheels
# for Python 3.13 (pip would compile it for minutes).
REQUIREMENTS: tuple[str, ...] = (
    "pandas>=2,<3", "tabulate", "pyarrow", "pydantic>=2.12,<3", "pyyaml>=6.0.3,<7", "requests",
    "pandera>=0.26.1,<0.27", "multimethod>=2.0,<2.1", "sqlglot>=27.28.1,<28", "jsonschema>=4.25.1,<5",
    "numpy==2.4.6", "pytz>=2025.2", "pandasql>=0.7.3,<0.8", "polars>=1.34,<2", "ddt>=1.7.1,<2",
    "duckdb>=1.4.1,<2", "graphviz>=0.21,<0.22",
)
MIN_PYTHON = (3, 12)
RULES_FILE = "focus_validator/rules/model-1.2.0.1.json"

# What a curlake FOCUS export supports, as the validator's applicability criteria: every one
# but capacity reservations, which cost_line_items does not carry.
APPLICABILITY_CRITERIA: tuple[str, ...] = (
    "ACCOUNT_NAMING_SUPPORTED", "AVAILABILITY_ZONE_SUPPORTED", "COMMITMENT_DISCOUNT_SUPPORTED",
    "MULTIPLE_PRICING_CATEGORIES_SUPPORTED", "MULTIPLE_SUB_ACCOUNT_TYPES_SUPPORTED",
    "MULTIPLE_BILLING_ACCOUNT_TYPES_SUPPORTED", "NEGOTIATED_PRICING_SUPPORTED", "PUBLIC_PRICE_LIST_SUPPORTED",
    "USAGE_MEASUREMENT_SUPPORTED", "UNIT_PRICING_SUPPORTED", "SUB_ACCOUNT_SUPPORTED",
    "BILLING_BASED_ON_PROVISIONED_RESOURCES_SUPPORTED", "RESOURCE_TYPE_ASSIGNMENT_SUPPORTED",
    "PRICING_BILLING_CURRENCY_DIFFERENCES_SUPPORTED", "VIRTUAL_CURRENCY_SUPPORTED", "REGION_SUPPORTED",
    "TAGGING_SUPPORTED",
)

_SUMMARY = re.compile(r"Total:\s*(\d+)\s*\|\s*Pass:\s*(\d+)\s*\|\s*Fail:\s*(\d+)\s*\|\s*Skipped:\s*(\d+)")
_FAILURE = re.compile(r"^- (?P<rule>[A-Za-z]+-[A-Z]-\d{3}-[A-Z]): violations=(?P<violations>\d+)", re.M)


class ValidatorUnavailable(RuntimeError):
    """No Python >= 3.12 to run the validator with, or its environment could not be built."""


@dataclass
class ValidatorRun:
    total: int
    passed: int
    failed: int
    skipped: int
    failures: dict[str, int] = field(default_factory=dict)  # rule id -> violations
    output: str = ""


def _version(python: str) -> tuple[int, int] | None:
    """(major, minor) of an interpreter, or None if it does not run (e.g. a pyenv shim with no version)."""
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    major, minor = out.stdout.split()
    return int(major), int(minor)


def _candidates() -> list[str]:
    """Interpreters to try, best first: an explicit one, PATH, pyenv's, uv's, Debian's."""
    found = [os.environ["CURLAKE_FOCUS_PYTHON"]] if os.environ.get("CURLAKE_FOCUS_PYTHON") else []
    for name in ("python3.12", "python3.13", "python3.14"):
        path = shutil.which(name)
        if path:
            found.append(path)
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    patterns = [
        os.path.join(pyenv_root, "versions", "3.1[2-9]*", "bin", "python3"),
        os.path.expanduser("~/.local/share/uv/python/cpython-3.1[2-9]*/bin/python3"),
        "/usr/bin/python3.1[2-9]",
        "/usr/local/bin/python3.1[2-9]",
    ]
    for pattern in patterns:
        found.extend(sorted(glob.glob(pattern)))
    return list(dict.fromkeys(found))


def _apt_install() -> None:
    """Install Debian's python3.12 if this machine's apt sources carry it (bookworm's do not)."""
    if os.geteuid() != 0 or not shutil.which("apt-cache"):
        return
    policy = subprocess.run(["apt-cache", "policy", "python3.12"], capture_output=True, text=True).stdout
    if re.search(r"Candidate:\s*(?!\(none\))\S+", policy):
        subprocess.run(["apt-get", "install", "-y", "-q", "python3.12", "python3.12-venv"], check=False,
                       capture_output=True)


def find_python() -> str:
    """A Python >= 3.12 interpreter, installed from Debian's packages if that is possible.

    Raises ValidatorUnavailable naming every place looked at.
    """
    tried = []
    for attempt in range(2):
        for python in _candidates():
            version = _version(python)
            tried.append(f"{python} ({'.'.join(map(str, version)) if version else 'does not run'})")
            if version and version >= MIN_PYTHON:
                return python
        if attempt == 0:
            _apt_install()
    raise ValidatorUnavailable(
        "focus-validator 2.2.1 needs Python 3.12 or later and none was found. Looked at: "
        + ("; ".join(dict.fromkeys(tried)) or "nothing on PATH")
        + ". Install one (pyenv, Debian's python3.12 where available) or set CURLAKE_FOCUS_PYTHON to its path."
    )


def _venv_dir(python: str) -> Path:
    major, minor = _version(python) or (0, 0)
    return CACHE / "focus-validator" / f"py{major}.{minor}"


def ensure_validator() -> Path:
    """The validator's virtual environment, built on first use (about a minute) and reused after."""
    python = find_python()
    venv = _venv_dir(python)
    stamp = venv / ".curlake-stamp"
    wanted = " ".join((VALIDATOR, *REQUIREMENTS))
    if stamp.is_file() and stamp.read_text() == wanted and (venv / "bin" / "focus-validator").exists():
        return venv
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    if venv.exists():
        shutil.rmtree(venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [
        [python, "-m", "venv", str(venv)],
        # Wheels only for the compiled ones: a source build would take minutes, better fail.
        [*pip, "--only-binary", "numpy,pandas,pyarrow,polars,duckdb,pydantic-core", *REQUIREMENTS],
        [*pip, "--no-deps", VALIDATOR],  # an sdist only: built with poetry-core
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise ValidatorUnavailable(f"building the focus-validator environment failed at {' '.join(step)}:\n"
                                       f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    stamp.write_text(wanted)
    return venv


def site_packages(venv: Path) -> Path:
    """The validator's site-packages folder (its working directory: see the module docstring)."""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import focus_validator, os; "
                          "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def rules(venv: Path) -> dict:
    """The validator's FOCUS 1.2 model rules (rule id -> rule), to check what a failing rule says."""
    return json.loads((site_packages(venv) / RULES_FILE).read_text())["ModelRules"]


def validate(data_file: str, criteria: tuple[str, ...] = APPLICABILITY_CRITERIA, venv: Path | None = None) -> ValidatorRun:
    """Run the validator on one CSV or Parquet FOCUS file and read its counts and failing rules."""
    venv = venv or ensure_validator()
    command = [str(venv / "bin" / "focus-validator"), "--data-file", os.path.abspath(data_file),
               "--validate-version", "1.2", "--block-download", "--show-violations"]
    if criteria:
        command += ["--applicability-criteria", ",".join(criteria)]
    done = subprocess.run(command, cwd=site_packages(venv), capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    summary = _SUMMARY.search(output)
    if done.returncode != 0 or summary is None:
        raise RuntimeError(f"focus-validator did not report a result for {data_file} (exit {done.returncode}):\n{output[-3000:]}")
    total, passed, failed, skipped = (int(x) for x in summary.groups())
    failures = {m["rule"]: int(m["violations"]) for m in _FAILURE.finditer(output.split("--- Failures ---", 1)[-1])}
    return ValidatorRun(total, passed, failed, skipped, failures, output)


def main(argv: list[str]) -> int:
    if argv[:1] == ["setup"]:
        try:
            venv = ensure_validator()
        except ValidatorUnavailable as exc:
            print(f"focus-validator: {exc}", file=sys.stderr)
            return 1
        print(f"focus-validator ready in {venv}")
        return 0
    if argv[:1] == ["validate"] and len(argv) == 2:
        run = validate(argv[1])
        print(f"Total: {run.total} | Pass: {run.passed} | Fail: {run.failed} | Skipped: {run.skipped}")
        for rule, violations in run.failures.items():
            print(f"  failed: {rule} ({violations} violations)")
        return 1 if run.failed else 0
    print("usage: focus_validator_env.py setup | validate FILE", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
