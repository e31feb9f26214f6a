"""A node's parameters as a Markdown table (the README's detector table, and
``thermal-perception params NODE``) or as a ROS 2 parameters file of its defaults
(``--yaml``), from the same specs the node declares: neither can drift from what the node
accepts."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from thermal_perception.ros.params import ParamSpec

HEADER = ("| parameter | type | default | range / values | meaning |\n"
          "| --- | --- | --- | --- | --- |")


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


def _type(spec: ParamSpec) -> str:
    if isinstance(spec.default, list):
        return f"{type(spec.default[0]).__name__}[]" if spec.default else "list"
    return spec.type_name


def _row(spec: ParamSpec) -> str:
    meaning = spec.description.replace("|", "\\|")
    if spec.read_only:
        meaning = (meaning[:-1] + " (read-only)." if meaning.endswith(".")
                   else meaning + " (read-only)")
    return (f"| `{spec.name}` | {_type(spec)} | {_value(spec.default)} | {_range(spec)} | "
            f"{meaning} |")


def markdown_table(specs: tuple[ParamSpec, ...]) -> str:
    """The specs as a Markdown table: name, type, default, range or choices, meaning (the
    description, '(read-only)' where it cannot change after start)."""
    return "\n".join([HEADER, *(_row(s) for s in specs)])


def yaml_template(node: str, specs: tuple[ParamSpec, ...]) -> str:
    """A ROS 2 parameters file for ``node`` with every parameter at its default, each under
    its description as a comment (and its range or choices): a start for a robot's own file,
    which ``thermal-perception check-config`` accepts as it is."""
    lines = [f"{node}:", "  ros__parameters:"]
    for spec in specs:
        note = spec.description
        allowed = _range(spec)
        if allowed:
            note += f" [{allowed}]"
        if spec.read_only:
            note += " (read-only)"
        lines += textwrap.wrap(note, width=92, initial_indent="    # ",
                               subsequent_indent="    # ")
        value = yaml.safe_dump(spec.default, default_flow_style=True, width=1000)
        value = value.removesuffix("\n...\n").strip()
        lines.append(f"    {spec.name}: {value}")
    return "\n".join(lines) + "\n"
