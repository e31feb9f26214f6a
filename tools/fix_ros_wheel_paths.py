"""Rewrite the wheel builder's paths in the CMake files exported by the ROS 2 PyPI wheels.

The ``ros-*`` wheels carry CMake config files that name the interpreter they were built
with (``/opt/python/cp3XX-cp3XX``): its include directory, numpy's include directory and
the install prefix itself. CMake then fails with "includes non-existent path". This script
replaces them with this interpreter's paths (pitfall 3 of shared/ros2-from-pypi.md).
It is idempotent and prints how many files it changed.

Run with the venv's interpreter: ``.venv/bin/python tools/fix_ros_wheel_paths.py``.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILDER_PREFIX = re.compile(r"/opt/python/cp3\d+-cp3\d+")


def fix_file(path: Path, prefix: str, python_include: str, numpy_include: str) -> bool:
    """Rewrite one file in place; return True if it changed."""
    try:
        text = path.read_text()
    except (UnicodeDecodeError, OSError):
        return False
    if not BUILDER_PREFIX.search(text):
        return False
    pattern = BUILDER_PREFIX.pattern
    text = re.sub(pattern + r"/include/python3\.\d+", python_include, text)
    text = re.sub(pattern + r"/lib/python3\.\d+/site-packages/numpy/_core/include",
                  numpy_include, text)
    text = re.sub(pattern + r"/lib/python3\.\d+/site-packages/numpy/core/include",
                  numpy_include, text)
    text = BUILDER_PREFIX.sub(prefix, text)
    path.write_text(text)
    return True


def main() -> int:
    prefix = sys.prefix
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    share = Path(prefix) / "share"
    if not share.is_dir():
        print(f"fix_ros_wheel_paths: {share} does not exist, nothing to do")
        return 0
    changed = sum(
        fix_file(p, prefix, python_include, numpy_include)
        for p in share.rglob("*") if p.is_file()
    )
    print(f"fix_ros_wheel_paths: rewrote {changed} file(s) under {share}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
