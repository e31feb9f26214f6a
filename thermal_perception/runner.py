"""Starts the package's nodes from a parameters YAML, without launch_ros.

launch_ros is not on PyPI, so this runner gives machines without a ROS install the same
behaviour as ``launch/*.launch.py``: each node key of the YAML (``/**/driver``, ``processor``)
starts that node in its own process with ``--params-file`` and the chosen namespace.
``composed=True`` starts them all in one process instead
(:mod:`thermal_perception.nodes.composed`: one executor, frames handed over in memory).

The nodes talk over Fast DDS shared memory with segments that hold whole frames
(``config/fastdds_shm.xml``, see :func:`transport_environment`): measured with
``bench/transport.py --transport``, it cuts the pipeline's latency to about a third of the
builtin transports'. ``THERMAL_PERCEPTION_TRANSPORT=default`` (Fast DDS builtin: UDPv4 + its
own shared memory) or ``=udp`` (UDPv4 only) switches back; a profile file or builtin transport
set in the environment by the user is left as it is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from thermal_perception.settings.nodes import NODE_MODULES, node_names, parameter_arguments

#: Transport settings of the started nodes (``THERMAL_PERCEPTION_TRANSPORT``); the first is
#: the default.
TRANSPORTS = ("shm", "default", "udp")
TRANSPORT_ENV = "THERMAL_PERCEPTION_TRANSPORT"
SHM_PROFILE = "fastdds_shm.xml"
#: Set by the user, these choose Fast DDS's transports themselves: left alone.
USER_DDS_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE",
                      "FASTDDS_BUILTIN_TRANSPORTS")


def config_candidates(name: str) -> list[Path]:
    """Where ``config/<name>`` may be: the source tree, then the ROS install's share folder."""
    candidates = [Path(__file__).resolve().parents[1] / "config" / name]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory("thermal_perception"))
                          / "config" / name)
    except (ImportError, LookupError, ValueError):
        pass
    return candidates


def shm_profile_path() -> Path | None:
    """config/fastdds_shm.xml from the source tree or the ROS install's share folder."""
    return next((path for path in config_candidates(SHM_PROFILE) if path.is_file()), None)


def default_params_file() -> Path:
    """config/thermal_pipeline.yaml from the source tree or the ROS install's share folder."""
    candidates = config_candidates("thermal_pipeline.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"thermal_pipeline.yaml not found in {[str(c) for c in candidates]}")


def transport_environment(transport: str | None = None,
                          environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables that give started nodes the Fast DDS transport ``transport``
    (default: ``THERMAL_PERCEPTION_TRANSPORT``, else ``shm``).

    ``shm``: ``FASTDDS_DEFAULT_PROFILES_FILE`` = config/fastdds_shm.xml (shared memory with
    16 MiB segments, plus UDPv4 for other hosts; reliability and QoS unchanged). ``udp``:
    ``FASTDDS_BUILTIN_TRANSPORTS=UDPv4``. ``default``: nothing (Fast DDS builtin). Nothing
    either when the user set one of :data:`USER_DDS_VARIABLES`, or the profile is not
    installed.
    """
    environ = os.environ if environ is None else environ
    transport = transport or environ.get(TRANSPORT_ENV) or TRANSPORTS[0]
    if transport not in TRANSPORTS:
        raise ValueError(f"{TRANSPORT_ENV}={transport!r}: expected one of {list(TRANSPORTS)}")
    if any(environ.get(name) for name in USER_DDS_VARIABLES):
        return {}
    if transport == "udp":
        return {"FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
    if transport == "shm":
        profile = shm_profile_path()
        return {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile)} if profile else {}
    return {}


def node_command(name: str, params_file: str | Path, namespace: str = "",
                 overrides: dict[str, Any] | None = None) -> list[str]:
    """Command line that starts node ``name`` like launch_ros would."""
    cmd = [sys.executable, "-m", NODE_MODULES[name], "--ros-args",
           "--params-file", str(params_file), "-r", f"__node:={name}"]
    if namespace:
        cmd += ["-r", f"__ns:={'/' + namespace.strip('/')}"]
    return cmd + parameter_arguments(overrides)


def composed_command(names: list[str], params_file: str | Path, namespace: str = "",
                     overrides: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Command line that starts the nodes ``names`` composed in one process."""
    return [sys.executable, "-m", "thermal_perception.nodes.composed", str(params_file),
            "--namespace", "/" + namespace.strip("/") if namespace else "",
            "--nodes", ",".join(names), "--overrides", json.dumps(overrides or {})]


@dataclass
class NodeProcess:
    """A started node."""

    name: str
    process: subprocess.Popen
    log_path: Path | None


class Pipeline:
    """The nodes of a parameters file, each in its own process.

    Parameters
    ----------
    params_file : ROS 2 parameters YAML whose node keys say which nodes to start.
    namespace : namespace of all nodes ("" for the root).
    overrides : per node, parameters that replace the file's (``{"driver": {"rate_hz": 10}}``).
    log_dir : write each node's output to ``<log_dir>/<node>.log`` instead of the terminal.
    only : start only these nodes of the file (default: all).
    transport : Fast DDS transport of the nodes, one of :data:`TRANSPORTS` (default:
        ``THERMAL_PERCEPTION_TRANSPORT``, else ``shm``); see :func:`transport_environment`.
    composed : all nodes in one process (``nodes`` then holds one entry, ``composed``),
        handing frames over in memory; topics are still published for other processes.
    """

    def __init__(self, params_file: str | Path, namespace: str = "",
                 overrides: dict[str, dict[str, Any]] | None = None,
                 log_dir: str | Path | None = None,
                 only: list[str] | None = None, transport: str | None = None,
                 composed: bool = False) -> None:
        self.environment = {**os.environ, **transport_environment(transport)}
        self.params_file = Path(params_file).resolve()
        self.namespace = namespace
        self.overrides = overrides or {}
        self.log_dir = Path(log_dir) if log_dir else None
        self.composed = composed
        self.names = node_names(self.params_file)
        if only is not None:
            missing = sorted(set(only) - set(self.names))
            if missing:
                raise ValueError(f"nodes not in {self.params_file.name}: {missing}")
            self.names = [n for n in self.names if n in only]
        unknown = sorted(set(self.overrides) - set(self.names))
        if unknown:
            raise ValueError(f"overrides for nodes not in {self.params_file.name}: {unknown}")
        self.nodes: list[NodeProcess] = []
        self._logs: list[IO] = []

    def start(self) -> Pipeline:
        commands = {name: node_command(name, self.params_file, self.namespace,
                                       self.overrides.get(name)) for name in self.names}
        if self.composed:
            commands = {"composed": composed_command(self.names, self.params_file,
                                                     self.namespace, self.overrides)}
        for name, cmd in commands.items():
            log_path = None
            out: Any = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                log_path = self.log_dir / f"{name}.log"
                out = open(log_path, "w")  # noqa: SIM115 - closed in stop()
                self._logs.append(out)
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if out else None,
                                       stdin=subprocess.DEVNULL, env=self.environment)
            self.nodes.append(NodeProcess(name, process, log_path))
        return self

    def failed(self) -> list[str]:
        """Descriptions of nodes that have exited."""
        problems = []
        for node in self.nodes:
            code = node.process.poll()
            if code is not None:
                where = f"; log: {node.log_path}" if node.log_path else ""
                tail = ""
                if node.log_path and node.log_path.exists():
                    tail = "\n  " + "\n  ".join(node.log_path.read_text().splitlines()[-5:])
                problems.append(f"node '{node.name}' exited with status {code}{where}{tail}")
        return problems

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask every node to shut down (SIGINT, as Ctrl-C), then terminate stragglers."""
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            try:
                node.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
