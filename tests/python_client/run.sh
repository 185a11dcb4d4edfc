#!/usr/bin/env bash
# A Python client generated from the server's own OpenAPI document runs a short scenario
# against the live server: if the document describes something other than what the server
# does (or describes one thing as two types), the generated client fails here.
#
# Usage: run.sh BASE_URL
# Needs python3 (3.11+) and PyPI through pip; the venv is cached between runs.
set -euo pipefail
base=${1:?usage: run.sh BASE_URL}
here=$(cd "$(dirname "$0")" && pwd)
# 0.27.1, not the latest (0.29.1): 0.28.0 to 0.29.1 emit `body: … | Unset` without importing
# `Unset` for a required body with several media types — our login takes JSON or a form —
# so the generated package cannot be imported (openapi-python-client issue #1451, fix in
# PR #1478). Move to the first release with that fix.
generator_version=0.27.1
httpx_version=0.28.1

venv="$HOME/.cache/taskforge-python-client-venv"
if [ "$("$venv/bin/openapi-python-client" --version 2>/dev/null)" != "openapi-python-client version: $generator_version" ] ||
  ! "$venv/bin/python" -c 'import httpx, attrs' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "openapi-python-client==$generator_version" "httpx==$httpx_version"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsS "$base/openapi.json" -o "$work/openapi.json"

# `--meta none`: the output directory is the package itself, importable from $work.
# The venv's bin on PATH lets the generator format its output with its own ruff.
if ! PATH="$venv/bin:$PATH" openapi-python-client generate --path "$work/openapi.json" \
  --output-path "$work/taskforge_client" --meta none >"$work/generate.log" 2>&1 ||
  grep -qi 'warning' "$work/generate.log"; then
  echo "FAIL: openapi-python-client $generator_version could not generate a clean client:"
  cat "$work/generate.log"
  exit 1
fi

PYTHONPATH="$work" "$venv/bin/python" "$here/scenario.py" "$base"
echo "generated Python client (openapi-python-client $generator_version): scenario passed"
