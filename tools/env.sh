# Source this file (bash) for a shell with the built package:  source tools/env.sh
# It activates .venv, sources install/setup.bash and keeps DDS discovery on this host.
# THERMAL_VENV and THERMAL_BUILD_BASE pick another venv and build (see tools/bootstrap.sh).
_tp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
source "$(readlink -f "${THERMAL_VENV:-$_tp_root/.venv}")/bin/activate"
# The ROS setup scripts read unset variables; relax nounset while sourcing them.
case $- in *u*) _tp_nounset=1; set +u ;; *) _tp_nounset= ;; esac
# shellcheck disable=SC1091
source "${THERMAL_BUILD_BASE:-$_tp_root}/install/setup.bash"
[ -n "$_tp_nounset" ] && set -u
# the thermal-perception command (installed by colcon next to the node executables)
export PATH="${THERMAL_BUILD_BASE:-$_tp_root}/install/thermal_perception/lib/thermal_perception:$PATH"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
unset _tp_root _tp_nounset
