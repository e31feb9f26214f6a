"""Old import paths of moved modules keep working for one release, with a DeprecationWarning,
and give the very objects of the new modules."""

from __future__ import annotations

import importlib
import sys

import pytest

from thermal_perception._moved import MOVED, PREFIX


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_warns_and_gives_the_new_objects(old: str) -> None:
    sys.modules.pop(PREFIX + old, None)
    with pytest.warns(DeprecationWarning, match="moved to"):
        module = importlib.import_module(PREFIX + old)
    for target in MOVED[old]:
        new = importlib.import_module(PREFIX + target)
        names = getattr(new, "__all__", [n for n in vars(new) if not n.startswith("_")])
        for name in names:
            assert hasattr(module, name), f"{old}.{name}"
    first = importlib.import_module(PREFIX + MOVED[old][0])
    public = [n for n in getattr(first, "__all__", vars(first)) if not n.startswith("_")]
    assert getattr(module, public[0]) is getattr(first, public[0])
    with pytest.raises(AttributeError, match="moved"):
        _ = module.no_such_name


def test_from_import_of_an_old_path() -> None:
    sys.modules.pop(PREFIX + "core.radiometry", None)
    with pytest.warns(DeprecationWarning):
        from thermal_perception.core.radiometry import BandRadianceTable
    from thermal_perception.core.physics import BandRadianceTable as new

    assert BandRadianceTable is new
