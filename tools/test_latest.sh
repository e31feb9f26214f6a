#!/usr/bin/env bash
# `make test-latest`: the tests on the newest releases the unpinned requirements allow, in a
# throw-away venv and build (the checkout's .venv, build/ and install/ are left as they are),
# so that an upgrade that breaks us shows up here before a user meets it. Prints which
# packages differ from requirements/lock.txt, then runs the README's test command there.
# Then the display and image tests once more on the newest OpenCV 4 (requirements allow >= 4.6;
# what OpenCV does with NaN/inf changed between 4.x and 5.1, see core/display.to_mono8).
# Exit status: the tests'. The folder is removed afterwards unless KEEP=1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
work="$(mktemp -d "${TMPDIR:-/tmp}/thermal_perception-latest.XXXXXX")"
cleanup() { [ "${KEEP:-0}" = "1" ] && echo "[test-latest] kept $work" || rm -rf "$work"; }
trap cleanup EXIT
export THERMAL_UNLOCKED=1 THERMAL_VENV="$work/venv" THERMAL_BUILD_BASE="$work"
bash tools/bootstrap.sh

echo "[test-latest] versions that differ from requirements/lock.txt:"
"$THERMAL_VENV/bin/python" - "$ROOT/requirements/lock.txt" <<'PY'
import re
import sys
from importlib import metadata

from packaging.markers import Marker

def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {}
for line in open(sys.argv[1]):
    m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", line)
    if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):
        locked[norm(m.group(1))] = m.group(2)
installed = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
rows = [(n, locked.get(n, "-"), installed.get(n, "-"))
        for n in sorted(set(locked) | set(installed)) if locked.get(n) != installed.get(n)]
rows = [r for r in rows if r[0] not in ("pip", "setuptools", "wheel") or r[1] != "-"]
for name, was, now in rows:
    print(f"  {name:32s} lock {was:14s} latest {now}")
print(f"  ({len(rows)} of {len(installed)} installed packages differ)" if rows
      else "  none: the lock is the newest")
PY

# shellcheck disable=SC1091
source tools/env.sh
cd test
status=0
python -m pytest -q -p no:cacheprovider ${PYTEST_ARGS:-} || status=$?

echo "[test-latest] display and image tests on the newest OpenCV 4:"
python -m pip install --disable-pip-version-check -q "opencv-python-headless<5"
python -c 'import cv2; print("  opencv", cv2.__version__)'
python -m pytest -q -p no:cacheprovider test_display.py test_isotherm.py test_image_conversion.py \
  test_lens_calibration.py test_fusion_core.py || status=$?
exit "$status"
