"""The parameter tables users read are the parameters the nodes declare."""

from __future__ import annotations

from pathlib import Path

import pytest

from thermal_perception.cli import main
from thermal_perception.ros.params import ParamSpec
from thermal_perception.settings.check import SETTINGS, node_specs
from thermal_perception.settings.table import markdown_table

REPO = Path(__file__).resolve().parents[1]


def test_table_rows_known_answers() -> None:
    specs = (ParamSpec("rate_hz", 0.0, "Frame rate, Hz.", 0.0, 240.0),
             ParamSpec("mode", "a", "Which | one.", choices=("a", "b"), read_only=True),
             ParamSpec("on", False, "Switch"), ParamSpec("name", "", "Name", read_only=True),
             ParamSpec("depth", 3, "Depth.", 1, None),
             ParamSpec("pose", [0.0, 1.5], "Pose, m."))
    rows = markdown_table(specs).splitlines()
    assert rows[0] == "| parameter | type | default | range / values | meaning |"
    assert rows[2:] == [
        "| `rate_hz` | float | `0.0` | 0..240 | Frame rate, Hz. |",
        "| `mode` | str | `a` | a, b | Which \\| one (read-only). |",
        "| `on` | bool | false |  | Switch |",
        '| `name` | str | `""` |  | Name (read-only) |',
        "| `depth` | int | `3` | 1.. | Depth. |",
        "| `pose` | float[] | `[0.0, 1.5]` |  | Pose, m. |",
    ]


def test_readme_detector_table_is_the_nodes_specs() -> None:
    """The README's detector table is exactly what the node declares (a parameter added,
    renamed or given another default or range without the README following fails here)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert markdown_table(node_specs("detector")) in readme


@pytest.mark.parametrize("node", list(SETTINGS))
def test_every_parameter_is_documented(node: str) -> None:
    """Each node parameter is named in the README or a docs page."""
    text = "".join(p.read_text(encoding="utf-8")
                   for p in [REPO / "README.md", *(REPO / "docs").glob("*.md")])
    missing = [s.name for s in node_specs(node) if f"`{s.name}`" not in text]
    assert not missing, f"{node} parameters not in the README or docs/: {missing}"


def test_params_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "fusion"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == markdown_table(node_specs("fusion"))
    assert main(["params", "camera"]) == 2
    assert "known: driver, processor, detector, fusion" in capsys.readouterr().err


@pytest.mark.parametrize("node", list(SETTINGS))
def test_yaml_template_is_a_clean_parameters_file_of_the_defaults(node: str, tmp_path: Path
                                                                  ) -> None:
    """``params NODE --yaml`` reads back as every parameter at its default, of its type, and
    check-config finds nothing wrong with it."""
    import yaml

    from thermal_perception.settings.check import check_params_file
    from thermal_perception.settings.table import yaml_template

    specs = node_specs(node)
    text = yaml_template(node, specs)
    values = yaml.safe_load(text)[node]["ros__parameters"]
    assert list(values) == [s.name for s in specs]
    for s in specs:
        assert values[s.name] == s.default and type(values[s.name]) is type(s.default), s.name
    path = tmp_path / f"{node}.yaml"
    path.write_text(text)
    assert check_params_file(path) == []
