#!/usr/bin/env bash
# Build the libFuzzer harnesses in tests/fuzz with clang (ASan + UBSan) and
# run each for a bounded time, starting from the committed corpus.  Prints
# every harness's execution count; exits nonzero on any crash, leak, hang
# or sanitizer report, leaving the input that caused it in build/fuzz-out/
# (copy it into tests/fuzz/corpus/<harness>/ as a regression once fixed).
#
#   scripts/fuzz.sh [seconds-per-harness]      (default: $HORUS_FUZZ_SECONDS or 60)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-${HORUS_FUZZ_SECONDS:-60}}

CLANG=${CLANG:-clang}
have_libfuzzer() {
  command -v "$CLANG" >/dev/null &&
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
    "$CLANG" -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null
}
# The harnesses need clang's libFuzzer runtime.  CI (CI=true) installs it;
# on a person's machine nothing is installed as root without asking:
# HORUS_INSTALL_DEPS=1 allows it, and HORUS_FUZZ_OPTIONAL=1 (set by
# scripts/test.sh outside CI) turns its absence into a skipped step.
FUZZ_PKGS="clang libclang-rt-14-dev"
if ! have_libfuzzer; then
  if [ "${CI:-}" = true ] || [ "${HORUS_INSTALL_DEPS:-}" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "fuzz: installing clang and its libFuzzer runtime (Debian packages: $FUZZ_PKGS)"
      apt-get update -qq >/dev/null
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $FUZZ_PKGS >/dev/null
    else
      echo "fuzz: clang with libFuzzer is needed and cannot be installed here" \
           "(not root, or no apt-get); Debian: apt-get install $FUZZ_PKGS" >&2
      exit 1
    fi
  elif [ "${HORUS_FUZZ_OPTIONAL:-}" = 1 ]; then
    echo "fuzz: SKIPPED: the fuzzers (tests/fuzz) need clang with its libFuzzer runtime," \
         "which this machine lacks.  Nothing was installed.  To run this step:"
    echo "fuzz:   sudo apt-get install $FUZZ_PKGS && scripts/fuzz.sh"
    echo "fuzz: (or HORUS_INSTALL_DEPS=1 make test, as root, to let make test install them)"
    exit 0
  else
    echo "fuzz: clang with libFuzzer is needed: sudo apt-get install $FUZZ_PKGS" \
         "(or run as root with HORUS_INSTALL_DEPS=1 to let this script install them)" >&2
    exit 1
  fi
fi

CC="$CLANG" cmake -S . -B build/fuzz -G Ninja -DHORUS_WERROR=ON -DHORUS_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
harnesses=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build build/fuzz --target $harnesses

# Segments go to a directory of this run's own, removed however it ends.
SHM=$(mktemp -d /dev/shm/horus-fuzz.XXXXXX)
trap 'rm -rf "$SHM"' EXIT
OUT=build/fuzz-out
rm -rf "$OUT"
total=0
for h in $harnesses; do
  mkdir -p "$OUT/$h/corpus"
  cp tests/fuzz/corpus/"$h"/* "$OUT/$h/corpus/"
  log="$OUT/$h/log"
  set +e
  HORUS_SHM_DIR="$SHM" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "build/fuzz/$h" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$OUT/$h/" "$OUT/$h/corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    tail -40 "$log"
    echo "fuzz: $h FAILED after ${execs:-?} executions; input in $OUT/$h/" >&2
    exit 1
  fi
  echo "fuzz: $h: ${execs} executions in ${SECONDS_EACH}s, ${cov}, no crash"
  total=$((total + execs))
done
echo "fuzz: ${total} executions in all, no crash"
