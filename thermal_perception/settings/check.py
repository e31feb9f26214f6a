"""Check a ROS 2 parameters file against the nodes' parameter specs, without ROS: before a
flight, on the laptop that writes the file.

A ROS 2 node ignores a parameter it does not declare, so a misspelt name in a YAML file
(``max_rate: 10`` for ``max_rate_hz``) changes nothing and says nothing; a value out of range
stops the node only when it starts on the robot. This finds both, with the nearest known name,
and runs each node's cross-parameter checks on the file's values over its defaults (files a
value names, such as ``terrain_file``, are opened relative to the working directory, as the
node would).
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any

import yaml

from thermal_perception.ros.params import ParamSpec, check_value, coerce
from thermal_perception.settings.nodes import NODE_MODULES

#: the settings module of each node (its PARAMS, and check_combination where it has one)
SETTINGS = {name: f"thermal_perception.settings.{name}" for name in NODE_MODULES}
#: parameters every ROS 2 node has, or that rclpy reads itself
ROS_PARAMETERS = ("use_sim_time", "start_type_description_service")
ROS_PREFIXES = ("qos_overrides.",)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as ROS 2 reads them: ``{a: {b: 1}}`` is the parameter ``a.b``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def node_specs(node: str) -> tuple[ParamSpec, ...]:
    """The parameter specs of ``node`` (driver, processor, detector, fusion), in declared
    order. KeyError names the known nodes."""
    if node not in SETTINGS:
        raise KeyError(f"unknown node '{node}'; known: {', '.join(SETTINGS)}")
    return tuple(importlib.import_module(SETTINGS[node]).PARAMS)


def _specs(node: str) -> tuple[dict[str, Any], Any]:
    module = importlib.import_module(SETTINGS[node])
    return {s.name: s for s in node_specs(node)}, getattr(module, "check_combination", None)


def check_params_file(path: str | Path) -> list[str]:
    """What is wrong in a parameters file (empty: nothing found), one line per problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path}: cannot be read as YAML: {exc}"]
    if not isinstance(data, dict):
        return [f"{path}: expected a mapping of node names to their ros__parameters"]
    problems: list[str] = []
    settings = {n: _specs(n) for n in SETTINGS}  # specs by name, cross-parameter check
    every_spec = {name: spec for specs, _ in settings.values() for name, spec in specs.items()}
    for key, section in data.items():
        node = str(key).rstrip("/").split("/")[-1]
        where = f"{path.name}: {key}"
        params = section.get("ros__parameters") if isinstance(section, dict) else None
        if not isinstance(params, dict):
            problems.append(f"{where}: no 'ros__parameters' mapping")
            continue
        wildcard = node in ("", "*", "**")
        if not wildcard and node not in SETTINGS:
            problems.append(f"{where}: unknown node '{node}' (known: {', '.join(SETTINGS)})")
            continue
        specs = every_spec if wildcard else settings[node][0]
        given: dict[str, Any] = {}
        values_ok = True
        for name, value in _flatten(params).items():
            if name in ROS_PARAMETERS or name.startswith(ROS_PREFIXES):
                continue
            spec = specs.get(name)
            if spec is None:
                near = difflib.get_close_matches(name, list(specs), n=1, cutoff=0.6)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                owner = "any of the nodes" if wildcard else f"the {node} node"
                problems.append(f"{where}: '{name}' is not a parameter of {owner}{hint}: "
                                "ROS would ignore it")
                continue
            problem = check_value(spec, coerce(spec, value))
            if problem:
                problems.append(f"{where}: {problem}")
                values_ok = False
            else:
                given[name] = coerce(spec, value)
        combination = None if wildcard else settings[node][1]
        if combination is not None and values_ok:  # the node's rules on valid values only
            values = {name: spec.default for name, spec in specs.items()} | given
            try:
                problem = combination(values)
            except (OSError, ValueError) as exc:
                problem = str(exc)
            if problem:
                problems.append(f"{where}: {problem}")
    return problems
