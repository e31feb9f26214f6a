"""Declarative node parameters: one spec per parameter, declared with a descriptor and range,
validated at start and on every change, rejected with a reason that says why.

Validation (:func:`check_value`) is pure Python so it is tested without ROS; rclpy is imported
only by :class:`ParameterSet`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

Validator = Callable[[dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter.

    name : parameter name.
    default : default value; its Python type is the parameter type (bool, int, float, str,
        or a list of one of them).
    description : what it does, with units.
    min_value, max_value : inclusive range for int and float parameters.
    choices : allowed values for str parameters.
    read_only : cannot change after start (e.g. image size).
    """

    name: str
    default: Any
    description: str
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    @property
    def type_name(self) -> str:
        return type(self.default).__name__


def check_value(spec: ParamSpec, value: Any) -> str | None:
    """Return why ``value`` is not acceptable for ``spec``, or None if it is."""
    expected = type(spec.default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        return (f"parameter '{spec.name}' must be of type {spec.type_name}, "
                f"got {type(value).__name__} {value!r}")
    if expected is list and spec.default and not all(
            isinstance(item, type(spec.default[0])) for item in value):
        return f"parameter '{spec.name}' must be a list of {type(spec.default[0]).__name__}"
    if expected is float and not math.isfinite(value):
        return f"parameter '{spec.name}' must be a finite number, got {value!r}"
    if spec.min_value is not None and value < spec.min_value:
        return f"parameter '{spec.name}' = {value!r} is below its minimum {spec.min_value}"
    if spec.max_value is not None and value > spec.max_value:
        return f"parameter '{spec.name}' = {value!r} is above its maximum {spec.max_value}"
    if spec.choices is not None and value not in spec.choices:
        return f"parameter '{spec.name}' = {value!r} is not one of {list(spec.choices)}"
    return None


def coerce(spec: ParamSpec, value: Any) -> Any:
    """Value in the spec's Python type (ints given for float parameters become floats)."""
    if isinstance(spec.default, float) and isinstance(value, int):
        return float(value)
    return value


class ParameterSet:
    """Declares the specs on a node and keeps validated values in ``values``.

    ``validator`` checks the combination of values (cross-parameter rules) and returns a
    reason or None. ``on_change`` is called with the changed names after a successful runtime
    change, so the node updates what depends on them; an exception there rejects the change.
    """

    def __init__(self, node: Any, specs: Iterable[ParamSpec],
                 validator: Validator | None = None,
                 on_change: Callable[[dict[str, Any]], None] | None = None) -> None:
        from rcl_interfaces.msg import (
            FloatingPointRange,
            IntegerRange,
            ParameterDescriptor,
            SetParametersResult,
        )
        from rclpy.exceptions import ParameterException

        self._result_type = SetParametersResult
        self.node = node
        self.specs = {s.name: s for s in specs}
        self.validator = validator
        self.on_change = on_change
        for spec in self.specs.values():
            text = spec.description
            if spec.choices:
                text += f" One of: {', '.join(spec.choices)}."
            descriptor = ParameterDescriptor(
                name=spec.name, description=text, read_only=spec.read_only,
                additional_constraints=(f"one of {list(spec.choices)}" if spec.choices else ""))
            if isinstance(spec.default, float) and (spec.min_value is not None
                                                    or spec.max_value is not None):
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(-math.inf if spec.min_value is None else spec.min_value),
                    to_value=float(math.inf if spec.max_value is None else spec.max_value),
                    step=0.0)]
            elif isinstance(spec.default, int) and not isinstance(spec.default, bool) and (
                    spec.min_value is not None and spec.max_value is not None):
                descriptor.integer_range = [IntegerRange(
                    from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
            self._coerce_integer_override(spec)
            try:
                node.declare_parameter(spec.name, spec.default, descriptor)
            except ParameterException as exc:  # out of range or wrong type at start
                raise ValueError(f"invalid parameter '{spec.name}': {exc}") from exc
        values = {name: coerce(self.specs[name], node.get_parameter(name).value)
                  for name in self.specs}
        problems = [p for p in (check_value(self.specs[n], v) for n, v in values.items()) if p]
        if not problems and validator is not None:
            problem = validator(values)
            problems += [problem] if problem else []
        if problems:
            raise ValueError("invalid parameters: " + "; ".join(problems))
        self.values: dict[str, Any] = values
        self.rejections = 0  # runtime changes rejected so far, and the reason of the last
        self.last_rejection = ""
        node.add_on_set_parameters_callback(self._on_set)

    def _coerce_integer_override(self, spec: ParamSpec) -> None:
        """Accept ``rate_hz: 30`` for a float parameter (YAML and -p give an integer)."""
        from rclpy.parameter import Parameter

        overrides = getattr(self.node, "_parameter_overrides", None)
        if not isinstance(spec.default, float) or not isinstance(overrides, dict):
            return
        given = overrides.get(spec.name)
        if given is not None and given.type_ == Parameter.Type.INTEGER:
            overrides[spec.name] = Parameter(spec.name, Parameter.Type.DOUBLE, float(given.value))

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def _on_set(self, params: list[Any]) -> Any:
        candidate = dict(self.values)
        changed: dict[str, Any] = {}
        for param in params:
            spec = self.specs.get(param.name)
            if spec is None:
                continue  # parameters declared elsewhere (e.g. use_sim_time)
            value = coerce(spec, param.value)
            problem = check_value(spec, value)
            if problem:
                return self._reject(problem)
            candidate[param.name] = value
            changed[param.name] = value
        if changed and self.validator is not None:
            problem = self.validator(candidate)
            if problem:
                return self._reject(problem)
        if changed and self.on_change is not None:
            try:
                self.on_change(candidate)
            except (ValueError, RuntimeError, OSError) as exc:
                return self._reject(f"change of {sorted(changed)} failed: {exc}")
        self.values = candidate
        return self._result_type(successful=True)

    def _reject(self, reason: str) -> Any:
        self.rejections += 1
        self.last_rejection = reason
        self.node.get_logger().warning(f"rejected parameter change: {reason}")
        return self._result_type(successful=False, reason=reason)
