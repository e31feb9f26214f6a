"""A node's parameters as a Markdown table (the README's detector table, and
``thermal-perception params NODE``), from the same specs the node declares: the table cannot
drift from what the node accepts."""

from __future__ import annotations

import importlib
from typing import Any

from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings.check import SETTINGS

HEADER = ("| parameter | type | default | range / values | meaning |\n"
          "| --- | --- | --- | --- | --- |")


def node_specs(node: str) -> tuple[ParamSpec, ...]:
    """The parameter specs of ``node`` (driver, processor, detector, fusion), in declared
    order. KeyError names the known nodes."""
    if node not in SETTINGS:
        raise KeyError(f"unknown node '{node}'; known: {', '.join(SETTINGS)}")
    return tuple(importlib.import_module(SETTINGS[node]).PARAMS)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, float) and value.is_integer():
        return f"`{value:.1f}`"
    return f"`{value}`"


def _number(value: float) -> str:
    return f"{value:g}"


def _range(spec: ParamSpec) -> str:
    if spec.choices:
        return ", ".join(spec.choices)
    if spec.min_value is None and spec.max_value is None:
        return ""
    low = "" if spec.min_value is None else _number(spec.min_value)
    high = "" if spec.max_value is None else _number(spec.max_value)
    return f"{low}..{high}"


def _row(spec: ParamSpec) -> str:
    meaning = spec.description.replace("|", "\\|")
    if spec.read_only:
        meaning = (meaning[:-1] + " (read-only)." if meaning.endswith(".")
                   else meaning + " (read-only)")
    return (f"| `{spec.name}` | {spec.type_name} | {_value(spec.default)} | {_range(spec)} | "
            f"{meaning} |")


def markdown_table(specs: tuple[ParamSpec, ...]) -> str:
    """The specs as a Markdown table: name, type, default, range or choices, meaning (the
    description, '(read-only)' where it cannot change after start)."""
    return "\n".join([HEADER, *(_row(s) for s in specs)])
