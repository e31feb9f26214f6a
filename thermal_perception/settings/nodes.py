"""The package's nodes and the node names a ROS 2 parameters file lists (pure Python)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: node name -> the module whose ``main`` runs it
NODE_MODULES = {
    "driver": "thermal_perception.nodes.driver",
    "processor": "thermal_perception.nodes.processor",
    "detector": "thermal_perception.nodes.detector",
    "fusion": "thermal_perception.nodes.fusion",
}


def node_names(params_file: str | Path) -> list[str]:
    """Node names listed in a ROS 2 parameters file, in order (wildcard-only keys skipped)."""
    data = yaml.safe_load(Path(params_file).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{params_file}: expected a mapping of node names to parameters")
    names = []
    for key in data:
        name = str(key).rstrip("/").split("/")[-1]
        if name in ("", "**", "*"):
            continue
        if name not in NODE_MODULES:
            raise ValueError(f"{params_file}: unknown node '{name}'; known: {list(NODE_MODULES)}")
        names.append(name)
    return names


def parameter_arguments(overrides: dict[str, Any] | None) -> list[str]:
    """``-p name:=value`` ROS arguments of parameter overrides (booleans as ROS spells them)."""
    args: list[str] = []
    for key, value in (overrides or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-p", f"{key}:={text}"]
    return args
