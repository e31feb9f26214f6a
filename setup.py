"""Plain-Python face of thermal_perception: `pip install .` gives the pure core and the
`thermal-perception` command, with no ROS install. Inside a ROS 2 workspace the package is
built by colcon through CMakeLists.txt (ament_cmake, for the messages in msg/)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements(name: str) -> list[str]:
    lines = (HERE / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-"))]


setup(
    name="thermal_perception",
    version="0.1.0",
    description="Calibrated thermal camera perception: radiometry, processing, detection, fusion",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["thermal_perception", "thermal_perception.*"]),
    package_data={"thermal_perception.config": ["*.yaml"],
                  "thermal_perception.models": ["*.onnx", "*.json", "*.md"],
                  "thermal_perception.view": ["static/*"]},
    install_requires=_requirements("requirements/python.txt"),
    extras_require={
        "dev": _requirements("requirements/dev.txt"),
        "train": _requirements("requirements/train.txt"),
        "view": _requirements("requirements/view.txt"),
        "foxglove": _requirements("requirements/foxglove.txt"),
        "geo": _requirements("requirements/geo.txt"),
    },
    entry_points={"console_scripts": ["thermal-perception=thermal_perception.cli:main"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/thermal_perception"]),
        ("share/thermal_perception", ["package.xml"]),
        ("share/thermal_perception/msg",
         [f"msg/{p.name}" for p in sorted((HERE / "msg").glob("*.msg"))]),
    ],
)
