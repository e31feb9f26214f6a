#!/usr/bin/env bash
# Refresh requirements/lock.txt, the exact versions and hashes of every Python package the
# venv gets (ROS 2 wheels included), from the unpinned requirements/*.txt. `make lock` runs it.
#
# The lock is made by uv's pip-compatible resolver (`uv pip compile --universal
# --generate-hashes`): one file valid for every Python the bootstrap accepts (3.10 and newer),
# with environment markers where versions differ, installed by plain pip in hash-checking mode
# (tools/bootstrap.sh). uv itself is pinned (UV_VERSION) and installed into a tool venv in the
# cache, so two people refreshing the lock on the same day get the same file.
# Afterwards: `make test` (a changed lock makes a fresh venv), `git diff requirements/lock.txt`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV_VERSION="${UV_VERSION:-0.13.9}"
PYTHON="${PYTHON:-python3}"
tools="${XDG_CACHE_HOME:-$HOME/.cache}/thermal_perception/tools-uv-$UV_VERSION"
cd "$ROOT"

if [ ! -x "$tools/bin/uv" ]; then
  echo "[lock] installing uv $UV_VERSION into $tools"
  "$PYTHON" -m venv "$tools"
  "$tools/bin/python" -m pip install --disable-pip-version-check -q "uv==$UV_VERSION"
fi
echo "[lock] resolving requirements/dev.txt + requirements/ros-wheels.txt (Python >= 3.10)"
"$tools/bin/uv" pip compile --quiet --universal --python-version 3.10 --generate-hashes \
  --index-url https://pypi.org/simple --no-header --custom-compile-command "make lock" \
  --output-file requirements/lock.txt requirements/dev.txt requirements/ros-wheels.txt
{
  echo "# Locked by 'make lock' (tools/lock.sh, uv $UV_VERSION) on $(date -u +%Y-%m-%d) from"
  echo "# requirements/dev.txt and requirements/ros-wheels.txt; tools/bootstrap.sh installs it with"
  echo "# pip --require-hashes. Do not edit by hand: change requirements/*.txt and run make lock."
  cat requirements/lock.txt
} > requirements/lock.txt.new
mv requirements/lock.txt.new requirements/lock.txt
echo "[lock] wrote requirements/lock.txt: $(grep -c '==' requirements/lock.txt) pins"
