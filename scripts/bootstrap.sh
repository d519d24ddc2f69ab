#!/usr/bin/env bash
# Install breakglass's Python and Node dependencies from the lock files (uv.lock,
# package-lock.json). Safe to run again: it only changes what differs from the locks.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
if ! python3 -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  python3 -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
# Bytecode-compiled, so the first command after an install starts as fast as the second, even
# where Python may not write .pyc files (PYTHONDONTWRITEBYTECODE, a read-only install).
UV_PYTHON_DOWNLOADS=never python3 -m uv sync --frozen --quiet --compile-bytecode
# The project itself is installed editable, so uv leaves its sources alone: compile them too.
.venv/bin/python -m compileall -q -j 0 src >/dev/null

# `npm install` follows package-lock.json; `npm ci` can reject a lock with anvil's optional
# per-platform packages.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
