"""Launch files: valid Python everywhere; with launch_ros (a ROS 2 install) they also build a
launch description whose nodes are the ones CMakeLists.txt installs."""

from __future__ import annotations

import importlib.util
import py_compile
import re

import pytest
from conftest import REPO

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))


def test_launch_files_exist_and_compile():
    assert LAUNCH_FILES
    for path in LAUNCH_FILES:
        py_compile.compile(str(path), doraise=True)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_name_installed_executables_and_configs(path):
    text = path.read_text()
    installed = set(re.findall(r"scripts/(\S+)", (REPO / "CMakeLists.txt").read_text()))
    for executable in re.findall(r'executable="([^"]+)"', text):
        assert executable in installed, f"{path.name}: {executable} is not installed"
    for config in re.findall(r'"config", "([^"]+)"', text):
        assert (REPO / "config" / config).is_file()


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installed (not on PyPI; present in ROS 2 installs)")
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_description_with_launch_ros(path):
    from launch_ros.actions import Node

    spec = importlib.util.spec_from_file_location("launch_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    nodes = [e for e in description.entities if isinstance(e, Node)]
    assert nodes
