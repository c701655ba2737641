#!/usr/bin/env bash
# The long robustness run, apart from `make test`: the full soak (3
# publishers x 3 subscribers x 5 topics with random kills, 60 s unless
# HORUS_SOAK_SECONDS says otherwise), the crash matrix, and each fuzzer for
# HORUS_FUZZ_SECONDS (300 unless told).  CI runs the same checks shorter.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${HORUS_VENV:-.venv}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -r requirements-test.txt
"$VENV/bin/python" -m pip install -q --no-build-isolation -Ccmake.define.HORUS_WERROR=ON .

printf '\n==> soak (%s s) and crash matrix\n' "${HORUS_SOAK_SECONDS:=60}"
(
  cd tests/python
  HORUS_SOAK_SECONDS=$HORUS_SOAK_SECONDS "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    test_soak.py test_crash.py "$@"
)

printf '\n==> fuzzing\n'
scripts/fuzz.sh "${HORUS_FUZZ_SECONDS:-300}"
