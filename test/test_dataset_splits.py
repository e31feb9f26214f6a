"""The clip-wise re-split of Thermal Cheetah (tools/prepare_thermal_cheetah.py): the held-out
clips in data/thermal_cheetah are the ones the tool's table calls test, a clip never spans two
splits, and a file that is not an export of that dataset is refused by name."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location(
        "prepare_thermal_cheetah", REPO / "tools" / "prepare_thermal_cheetah.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_test_clips_are_the_tools_test_split() -> None:
    tool = _tool()
    names = sorted(p.name for p in (REPO / "data/thermal_cheetah/test/images").glob("*.jpg"))
    assert len(names) == 30
    assert {tool.split_of(n) for n in names} == {"test"}
    labels = REPO / "data/thermal_cheetah/test/labels"
    assert sorted(p.stem for p in labels.glob("*.txt")) == sorted(Path(n).stem for n in names)


def test_a_clip_goes_whole_to_one_split() -> None:
    tool = _tool()
    frames = [f"PIR-206_{clip}_mov-{k}_jpg.rf.{k:032x}.jpg" for clip in range(22)
              for k in range(5)]
    by_clip: dict[str, set[str]] = {}
    for name in frames:
        clip = re.match(r"PIR-206_\d+", name)[0]
        by_clip.setdefault(clip, set()).add(tool.split_of(name))
    assert all(len(s) == 1 for s in by_clip.values())
    assert tool.split_of("PIR-206_8_mov-12_jpg.rf.0d6ae2d84de5f4040d7f7bf09510d1a4.jpg") == "train"
    assert tool.split_of("IMG_0011_jpeg.rf.96047d1e96342c05239fae171688a08e.jpg") == "valid"
    assert tool.TEST.isdisjoint(tool.VAL)


def test_a_foreign_file_is_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="not a Thermal Cheetah export"):
        _tool().split_of("frame_000001.png")
