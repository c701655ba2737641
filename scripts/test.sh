#!/usr/bin/env bash
# Install what the tests need and run all of them: the C tests (plain, under
# AddressSanitizer + UBSan, and under ThreadSanitizer, warnings as errors),
# then the Python suite against the installed package, then the benchmarks
# in quick mode.  This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${HORUS_VENV:-.venv}
JOBS=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==> %s\n' "$*"; }

step "Python environment ($VENV)"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-test.txt -r requirements-bench.txt

step "C library and tests (-Wall -Wextra -Werror)"
cmake -S . -B build/ci -G Ninja -DHORUS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j "$JOBS"
ctest --test-dir build/ci --output-on-failure -j "$JOBS"

step "C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/asan -G Ninja -DHORUS_WERROR=ON -DHORUS_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$JOBS"

step "C tests under ThreadSanitizer"
cmake -S . -B build/tsan -G Ninja -DHORUS_WERROR=ON -DHORUS_TSAN=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/tsan -j "$JOBS"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build/tsan --output-on-failure -j "$JOBS"

step "Fuzzing the shared state other processes write (libFuzzer, ASan + UBSan)"
# Bounded: HORUS_FUZZ_SECONDS per harness (60 in CI).  Any crash fails the run
# and leaves its input in build/fuzz-out/ to add to tests/fuzz/corpus/.
# Outside CI a missing clang skips this step with the command to run it,
# instead of installing Debian packages as root unasked.
[ "${CI:-}" = true ] || export HORUS_FUZZ_OPTIONAL=1
scripts/fuzz.sh "${HORUS_FUZZ_SECONDS:-60}"

step "Python package (pip install .)"
"$VENV/bin/python" -m pip install -q --no-build-isolation \
  -Ccmake.define.HORUS_WERROR=ON .

step "A browser for the horus view --rerun test (Debian chromium)"
# tests/python/test_view_rerun.py opens Rerun's web viewer in headless
# chromium.  As with clang for fuzzing: CI (CI=true) installs it, a person's
# machine only with HORUS_INSTALL_DEPS=1; otherwise that test skips and says so.
if ! command -v chromium >/dev/null; then
  if { [ "${CI:-}" = true ] || [ "${HORUS_INSTALL_DEPS:-}" = 1 ]; } &&
     [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing chromium (Debian package) for the browser test"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium not installed: the horus view --rerun browser test will skip" \
         "(Debian: apt-get install chromium, or HORUS_INSTALL_DEPS=1 as root)"
  fi
fi

step "Python tests"
# Torch and JAX tests must run here, not skip: conftest.py turns a missing
# framework into a failure when HORUS_REQUIRE_FRAMEWORKS is set.
# HORUS_BUILD_DIR lets the tests run the C examples (a C publisher feeding a
# Python subscriber).
export HORUS_BUILD_DIR="$PWD/build/ci"
# The horus command under test is the one just installed into the venv,
# whatever else PATH holds (a stale horus elsewhere must not answer).
export PATH="$PWD/$VENV/bin:$PATH" HORUS_CLI="$PWD/$VENV/bin/horus"
cd tests/python
HORUS_REQUIRE_FRAMEWORKS=1 "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
cd ../..

step "Type checks: the stubs against the installed extension, the examples against the stubs"
# pyproject.toml's [tool.mypy] makes torch, JAX and Zenoh optional.
"$VENV/bin/python" -m mypy.stubtest horus --mypy-config-file pyproject.toml
"$VENV/bin/python" -m mypy --config-file pyproject.toml --check-untyped-defs examples/

step "Install and smoke tests on Python 3.10-3.13 (fresh venvs, clean export of this checkout)"
# Each interpreter this machine has: make demo into a new venv, then
# pytest -m smoke against that install; a missing one is skipped, not failed.
scripts/pythons.sh

step "Python tests once more, under AddressSanitizer + UBSan"
# The extension built with -fsanitize=address,undefined and the ASan runtime
# preloaded into the interpreter (libstdc++ too, so C++ exceptions thrown in
# jaxlib go through ASan's interceptor).  Leak checking is off: CPython
# keeps objects alive at exit by design.
cmake -S . -B build/pyasan -G Ninja -DHORUS_WERROR=ON -DHORUS_SANITIZE=ON \
  -DHORUS_BUILD_PYTHON=ON -DHORUS_BUILD_TESTS=OFF -DPython_EXECUTABLE="$PWD/$VENV/bin/python" \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/pyasan -j "$JOBS"
(
  cd tests/python
  export PYTHONPATH="$PWD/../../build/pyasan/python" HORUS_CLI="$PWD/../../build/pyasan/horus"
  export JAX_PLATFORMS=cpu HORUS_SOAK_SECONDS=4
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
    HORUS_REQUIRE_FRAMEWORKS=1 "../../$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    "$@"
)

step "Benchmarks, quick (so they cannot rot; speed is reported, not asserted)"
"$VENV/bin/python" bench/run.py --quick --build-dir build/bench --out build/bench-results
