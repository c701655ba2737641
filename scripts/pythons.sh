#!/usr/bin/env bash
# Install horus on every supported Python the way a user does, then run the
# smoke subset of the Python tests (pytest -m smoke) against that install.
#
# For each of Python 3.10, 3.11, 3.12 and 3.13 found on this machine (on PATH
# as python3.X, or under pyenv): `make demo` in a clean export of this
# checkout (the tracked files, as a clone has them), into a fresh virtual
# environment, NumPy and the build requirements from the package index; the
# demo must run and leak nothing.  One interpreter (HORUS_SMOKE_TORCH, the
# version of python3 by default; empty for none) also gets the demo's
# [torch] extra, pinned to the torch the tests pin, and must run the CNN.
# An interpreter this machine lacks is skipped with a message, never a
# failure.
#
#   scripts/pythons.sh          (HORUS_PYTHONS="3.10 3.13" to choose)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VERSIONS=${HORUS_PYTHONS:-3.10 3.11 3.12 3.13}
TORCH_FOR=${HORUS_SMOKE_TORCH-$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)}
SMOKE_DEPS="pytest>=8 hypothesis>=6 mypy"

# python3.X on PATH or under pyenv, able to create a venv with pip.
find_python() {
  local v=$1 p
  for p in "python$v" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
    if command -v "$p" >/dev/null 2>&1 &&
       "$p" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      command -v "$p"
      return 0
    fi
  done
  return 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/horus-pythons.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The tracked files with their uncommitted edits (what CI's clone has): no
# build/, no .venv, nothing the working tree happens to hold besides.
mkdir "$WORK/src"
rev=$(git stash create 2>/dev/null || true)
git archive "${rev:-HEAD}" | tar -x -C "$WORK/src"
grep '^torch==' requirements-test.txt >"$WORK/torch-pin.txt" || true

tested=() skipped=()
for v in $VERSIONS; do
  if ! py=$(find_python "$v"); then
    echo "pythons: Python $v: SKIPPED, not found on this machine (python$v or pyenv install $v)"
    skipped+=("$v")
    continue
  fi
  venv="$WORK/venv-$v"
  extras= model="numpy"
  if [ "$v" = "$TORCH_FOR" ]; then extras='[torch]' model="torch CNN"; fi
  log="$WORK/demo-$v.log"
  echo "pythons: Python $v ($py): make demo DEMO_EXTRAS='$extras' in a fresh venv"
  # PYTHONPATH unset: the tests must import the installed package, not a
  # developer build.  The torch pin only keeps a CI run off a multi-GB
  # download; the demo itself asks for any torch.
  if ! env -u PYTHONPATH -u HORUS_CLI PIP_CONSTRAINT="$WORK/torch-pin.txt" \
       make -C "$WORK/src" --no-print-directory demo PYTHON="$py" VENV="$venv" \
       DEMO_EXTRAS="$extras" DEMO_ARGS="--seconds 2" >"$log" 2>&1; then
    tail -40 "$log"
    echo "pythons: Python $v: make demo FAILED" >&2
    exit 1
  fi
  for want in "installed in the virtual environment $venv" "running $model" \
              "pool bytes leaked: 0"; do
    if ! grep -qF "$want" "$log"; then
      tail -40 "$log"
      echo "pythons: Python $v: make demo did not print '$want'" >&2
      exit 1
    fi
  done
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q $SMOKE_DEPS
  (
    cd "$WORK/src/tests/python"
    env -u PYTHONPATH -u HORUS_CLI -u HORUS_BUILD_DIR -u HORUS_REQUIRE_FRAMEWORKS \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider -m smoke
  ) || { echo "pythons: Python $v: smoke tests FAILED" >&2; exit 1; }
  tested+=("$v")
done
echo "pythons: installed, ran the demo and the smoke tests on Python ${tested[*]:-(none)}" \
     "${skipped[*]:+; skipped (not on this machine): ${skipped[*]}}"
