"""Detection in a worker process (thermal_perception.analysis.detect_process) against the
in-thread path: the same detections, track ids and outputs; no process or shared memory left.

The reference is the thread path (CoreDetector called in the analysing process), which the
other analysis tests check against known scenes."""

from __future__ import annotations

import csv
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from thermal_perception.analysis import AnalysisOptions, analyze_bag
from thermal_perception.analysis.detect import CoreDetector, core_detection_available
from thermal_perception.analysis.detect_process import DetectionProcess
from thermal_perception.sim.record import SimulationOptions, simulate_to_bag

pytestmark = pytest.mark.skipif(not core_detection_available(),
                                reason="thermal_perception.core.detection.warm_body not available")

WIDTH, HEIGHT, FRAMES = 640, 512, 40
ALTITUDE_M = 60.0  # the simulator's flight height: gives the warm-body detector its GSD
TIMING_COLUMNS = {"processing_ms"}  # wall time, differs between runs


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(f)]


#: /dev/shm names of other programs on the machine (Fast DDS transports of ROS nodes, LTTng):
#: the analysis uses no DDS, so they come and go with whatever else runs meanwhile
OTHERS = ("fastdds_", "sem.fastdds_", "fastrtps_", "sem.fastrtps_", "lttng")


def shm_names() -> set[str]:
    folder = Path("/dev/shm")
    return {p.name for p in folder.iterdir() if not p.name.startswith(OTHERS)} \
        if folder.is_dir() else set()


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("detproc") / "sim"
    simulate_to_bag(SimulationOptions(out=path, frames=FRAMES, width=WIDTH, height=HEIGHT,
                                      truth=False), progress=False)
    return path


@pytest.mark.parametrize("every", [1, 4])
def test_process_path_gives_the_thread_paths_outputs(bag: Path, tmp_path: Path,
                                                     every: int) -> None:
    before = shm_names()
    results = {}
    for worker in ("thread", "process"):
        results[worker] = analyze_bag(bag, AnalysisOptions(
            out=tmp_path / worker, progress=False, video=worker == "process", bag=False,
            report=False, altitude_m=ALTITUDE_M, detect_every=every, detect_worker=worker))
    thread, process = results["thread"], results["process"]
    assert thread.status == process.status == "ok", (thread.errors, process.errors)
    assert "detect_process_start_s" in process.timings_s  # the process did run
    assert "detect_process_start_s" not in thread.timings_s
    assert not any("detection process" in w for w in process.warnings)
    found = rows(tmp_path / "thread" / "sim" / "detections.csv")
    assert found, "the simulated scene should give detections"
    assert any(int(r["track_id"]) > 0 for r in found)
    assert rows(tmp_path / "process" / "sim" / "detections.csv") == found
    assert rows(tmp_path / "process" / "sim" / "frames.csv") == \
        rows(tmp_path / "thread" / "sim" / "frames.csv")
    assert process.detections == thread.detections == len(found)
    assert "video" in process.outputs  # the frames went on to the image stage
    assert not mp.active_children()  # the worker was joined
    assert shm_names() <= before  # its shared memory unlinked


def test_detection_process_matches_core_detector_and_predictions() -> None:
    """Frame by frame on moving hot blobs (a size change included): the process' records and
    predicted tracks equal CoreDetector's."""
    rng = np.random.default_rng(7)
    reference = CoreDetector()
    process = DetectionProcess(reference.values)
    try:
        process.wait_ready()
        for i in range(12):
            shape = (96, 128) if i < 8 else (80, 100)
            image = (20.0 + rng.normal(0.0, 0.3, shape)).astype(np.float32)
            image[10 + i:18 + i, 20 + 2 * i:30 + 2 * i] = 90.0
            image[50:56, 60:64] = 300.0
            seq = process.submit(image, 1 / 30, 0.1, (0.0, 0.0))
            image_copy = image.copy()
            image[:] = 0.0  # the process works on its own copy
            status, found, tracked = process.result(seq)
            assert status == "ok"
            assert found == reference(image_copy, 1 / 30, 0.1, (0.0, 0.0))
            assert tracked == reference.tracked
            assert [r for r, _, _ in tracked] == reference.predict(0.0)
        assert any(r.track_id for r in found)
    finally:
        process.close()
        process.close()  # idempotent
    assert not mp.active_children()


def test_bad_detect_worker_is_a_clear_error(bag: Path, tmp_path: Path) -> None:
    result = analyze_bag(bag, AnalysisOptions(out=tmp_path, progress=False, video=False,
                                              bag=False, report=False, detect_worker="gpu"))
    assert result.status == "failed"
    assert any("detect_worker must be one of" in e for e in result.errors)
