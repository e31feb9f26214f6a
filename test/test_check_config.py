"""``thermal-perception check-config``: a parameters file checked against the nodes' specs
without ROS (misspelt names with the nearest known one, types, ranges, choices, the nodes'
cross-parameter checks); the shipped configs pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from thermal_perception.cli import main
from thermal_perception.settings.check import check_params_file

SHIPPED = sorted((REPO / "config").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_are_clean(path: Path) -> None:
    assert check_params_file(path) == []


def test_mistakes_are_found_with_the_nearest_name(tmp_path: Path) -> None:
    path = tmp_path / "robot.yaml"
    path.write_text("""
/**/detector:
  ros__parameters:
    max_rate: 10.0              # max_rate_hz
    people_detector: yolo       # not a choice
    model_threads: 0.5          # an int
    use_sim_time: true          # every node has it
    qos_overrides:
      /thermal/image_temperature:
        subscription:
          depth: 5
/**/processor:
  ros__parameters:
    display_min_c: 50.0
    display_max_c: 40.0         # below display_min_c
/**/fusion:
  ros__parameters:
    cot_adress: "239.2.3.1:6969"
    overlay_alpha: 1.5
/**/planner:
  ros__parameters: {goal: 1}
/**:
  ros__parameters:
    image_reliability: best_effort
    colourmap: ironbow
/**/driver: {}
""")
    problems = check_params_file(path)
    text = "\n".join(problems)
    assert "'max_rate' is not a parameter of the detector node (did you mean " \
           "'max_rate_hz'?)" in text
    assert "'people_detector' = 'yolo' is not one of ['warm_body', 'model']" in text
    assert "'model_threads' must be of type int" in text
    assert "display_max_c must be greater than display_min_c" in text
    assert "'cot_adress' is not a parameter of the fusion node (did you mean " \
           "'cot_address'?)" in text
    assert "'overlay_alpha' = 1.5 is above its maximum 1.0" in text
    assert "unknown node 'planner'" in text
    assert "'colourmap' is not a parameter of any of the nodes (did you mean 'colormap'?)" \
        in text
    assert "/**/driver: no 'ros__parameters' mapping" in text
    assert not any("use_sim_time" in p or "qos_overrides" in p or "image_reliability" in p
                   for p in problems)
    assert len(problems) == 9, text


def test_cli_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(SHIPPED[0])]) == 0
    assert "every parameter is known and valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("/**/driver:\n  ros__parameters:\n    rate: 9.0\n")
    assert main(["check-config", str(SHIPPED[0]), str(bad)]) == 1
    assert "did you mean 'rate_hz'?" in capsys.readouterr().out
    bad.write_text("a: [unclosed")
    assert main(["check-config", str(bad)]) == 1
    assert "cannot be read as YAML" in capsys.readouterr().out
