"""The processor and detector nodes' parameters without ROS: defaults, loading from a ROS 2
parameters YAML, and the converter, chain and renderer built from them exactly as the live
processor node builds them.

Names, defaults, ranges and the builders come from :mod:`thermal_perception.settings`, the
same definitions the live nodes declare, so offline and live runs agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from thermal_perception.ros.params import check_value, coerce
from thermal_perception.settings.detector import PARAMS as DETECTOR_PARAMS
from thermal_perception.settings.processor import PARAMS as PROCESSOR_PARAMS
from thermal_perception.settings.processor import (  # noqa: F401 - the builders, re-exported
    chain_from,
    check_combination,
    converter_from,
    corrections_from,
    renderer_from,
)

PROCESSOR_NODE = "processor"
DETECTOR_NODE = "detector"
NO_ROIS = [""]  # the node's "no ROI" value (a string-array parameter needs one entry)

#: Processor and detector parameters with the live nodes' defaults (one definition:
#: :mod:`thermal_perception.settings`).
PROCESSOR_DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in PROCESSOR_PARAMS}
DETECTOR_DEFAULTS: dict[str, Any] = {spec.name: spec.default for spec in DETECTOR_PARAMS}
_SPECS = {PROCESSOR_NODE: {s.name: s for s in PROCESSOR_PARAMS},
          DETECTOR_NODE: {s.name: s for s in DETECTOR_PARAMS}}
#: Node parameters that only matter live (transport); accepted in files and ignored here.
LIVE_ONLY = ("image_reliability", "use_sim_time")
WILDCARDS = ("**", "*")  # node keys that match every node


def _node_name(key: Any) -> str:
    """Node name of a parameters-file key (``/**/processor`` -> ``processor``)."""
    return str(key).rstrip("/").split("/")[-1]


def load_node_params(path: str | Path | None, node: str, defaults: dict[str, Any],
                     overrides: dict[str, Any] | None = None
                     ) -> tuple[dict[str, Any], list[str]]:
    """Parameter values of ``node`` from a ROS 2 parameters YAML (its ``ros__parameters``;
    keys such as ``/**/processor`` match, wildcard keys such as ``/**`` apply first), then
    ``overrides``, over ``defaults``.

    Returns the values and warnings (parameters this tool does not know, which the live node
    would also ignore). Raises ValueError for a malformed file or a value of the wrong type.
    """
    values = dict(defaults)
    warnings: list[str] = []
    shared: dict[str, Any] = {}  # from wildcard keys ("/**"): only the names we know
    given: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of node names to parameters")
        for key, entry in data.items():
            name = _node_name(key)
            if name not in (node, *WILDCARDS):
                continue
            params = (entry or {}).get("ros__parameters") or {}
            if not isinstance(params, dict):
                raise ValueError(f"{path}: {key}.ros__parameters must be a mapping")
            if name == node:
                given.update(params)
            else:
                shared.update({k: v for k, v in params.items() if k in defaults})
    given = {**shared, **given, **(overrides or {})}
    for name, value in given.items():
        if name in LIVE_ONLY:
            continue
        if name not in defaults:
            warnings.append(f"unknown {node} parameter '{name}' ignored")
            continue
        spec = _SPECS.get(node, {}).get(name)
        if spec is not None:  # the live node's type, range and choice rules
            value = coerce(spec, value)
            problem = check_value(spec, value)
            if problem:
                raise ValueError(f"{node}: {problem}")
        values[name] = value
    return values, warnings


def load_processor_params(path: str | Path | None,
                          overrides: dict[str, Any] | None = None
                          ) -> tuple[dict[str, Any], list[str]]:
    """The processor node's parameter values (see :func:`load_node_params`)."""
    values, warnings = load_node_params(path, PROCESSOR_NODE, PROCESSOR_DEFAULTS, overrides)
    problem = check_combination(values)
    if problem:
        raise ValueError(f"{PROCESSOR_NODE}: {problem}")
    return values, warnings


def load_detector_params(path: str | Path | None,
                         overrides: dict[str, Any] | None = None
                         ) -> tuple[dict[str, Any], list[str]]:
    """The detector node's parameter values (see :func:`load_node_params`)."""
    return load_node_params(path, DETECTOR_NODE, DETECTOR_DEFAULTS, overrides)
