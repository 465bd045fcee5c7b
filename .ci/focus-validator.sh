#!/usr/bin/env bash
# Build (once; reused from .cache/focus-validator while its stamp matches) the environment of the
# FinOps Foundation's focus-validator 2.2.1: a Python >= 3.12 virtualenv of its own. Fails with
# a clear message when no Python 3.12+ can be found. The tests build it too if this did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" tests/focus_validator_env.py setup
