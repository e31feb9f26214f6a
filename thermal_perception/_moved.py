"""Old import paths of modules that moved in the 0.2 restructuring (``docs/architecture.md``),
kept working for one release with a DeprecationWarning.

A module that was split in several answers for all of them: ``thermal_perception.core.roi``
gives the names of ``core.measure``'s shapes, parse, stats and alarms modules.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

#: old module -> the modules that now hold its names (first match wins).
MOVED: dict[str, tuple[str, ...]] = {
    "core.radiometry": ("core.physics.planck", "core.physics.band", "core.physics.measurement",
                        "core.physics.vendor"),
    "core.calibration": ("core.physics.calibration",),
    "core.camera": ("core.physics.camera",),
    "core.sensor": ("core.physics.sensor",),
    "core.nuc": ("core.correction.nuc",),
    "core.badpixels": ("core.correction.badpixels",),
    "core.lag": ("core.correction.lag",),
    "core.pipeline": ("core.correction.chain",),
    "core.isotherm": ("core.display.isotherm",),
    "core.palette_inversion": ("core.display.palette_inversion",),
    "core.roi": ("core.measure.shapes", "core.measure.parse", "core.measure.stats",
                 "core.measure.alarms"),
    "core.detection_kernels": ("core.detection.kernels",),
    "core.learned": ("core.detection.model_io",),
    "core.learned_detector": ("core.detection.model",),
    "core.tracking": ("core.detection.tracking",),
    "core.geometry": ("core.fusion.geometry",),
    "core.sync": ("core.fusion.sync",),
    "core.registration": ("core.fusion.registration",),
    "core.pointcloud": ("core.fusion.pointcloud",),
    "core.geolocation": ("core.fusion.geolocation", "core.fusion.geolocation_log"),
    "core.terrain": ("core.fusion.terrain",),
    "core.lens_calibration": ("core.fusion.lens_targets", "core.fusion.lens_calibration",
                              "core.fusion.lens_files", "core.fusion.lens_synthetic"),
    "core.box_eval": ("evaluation.boxes",),
    "core.evaluation": ("evaluation.simulated",),
    "evaluate": ("evaluation.simulated_cli",),
    "evaluate_dataset": ("evaluation.dataset",),
    "ros.image_conversion": ("io.image_encoding",),
    "analysis.bagio": ("analysis.bag_reading", "analysis.bag_writing"),
}
PREFIX = "thermal_perception."


class _MovedModule(types.ModuleType):
    """Stands for a moved module: attribute lookups go to the modules that hold its names."""

    def __init__(self, name: str, targets: tuple[str, ...]) -> None:
        super().__init__(name, f"Moved to {', '.join(PREFIX + t for t in targets)}.")
        self.__targets = [importlib.import_module(PREFIX + t) for t in targets]

    def __getattr__(self, attr: str) -> Any:
        for module in self.__targets:
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (moved) has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted({name for module in self.__targets for name in dir(module)})


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names (after every real module: it is last on ``sys.meta_path``)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname.startswith(PREFIX) and fullname[len(PREFIX):] in MOVED:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        targets = MOVED[spec.name[len(PREFIX):]]
        warnings.warn(f"{spec.name} moved to {', '.join(PREFIX + t for t in targets)}; the old "
                      "path will be removed in the next release", DeprecationWarning,
                      stacklevel=3)
        return _MovedModule(spec.name, targets)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def install() -> None:
    """Put the finder of old paths last on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
