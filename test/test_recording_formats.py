"""Recordings users have: Cacophony Project thermal video (.cptv, a real clip in
data/cptv), 16-bit PNG/TIFF sequences with a radiometry.yaml sidecar, and the errors for
files that are none of the formats read."""

from __future__ import annotations

import gzip
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO

from thermal_perception.io.frames import read_frames
from thermal_perception.io.sequences import SIDECAR_NAME, Radiometry, read_sidecar
from thermal_perception.io.sources import RecordingSource

CPTV_SAMPLE = REPO / "data" / "cptv" / "v2.cptv"


# -- Cacophony .cptv ------------------------------------------------------------------------


def test_real_cptv_clip():
    """python-cptv's v2 sample (data/cptv/README.md): 100 frames of a 160x120 Lepton at
    about 9 Hz, 14-bit counts of an outdoor scene."""
    from thermal_perception.io.cptv import read_cptv_info

    info = read_cptv_info(CPTV_SAMPLE)
    assert (info.version, info.width, info.height) == (2, 160, 120)
    assert info.device_name == "nz99" and info.device_id == 44
    assert info.camera_model is None and info.fps is None  # this recorder did not write them
    frames = list(read_frames(CPTV_SAMPLE))
    assert len(frames) == 100
    assert all(f.counts.shape == (120, 160) and f.counts.dtype == np.uint16 for f in frames)
    stamps = np.array([f.stamp_ns for f in frames])
    assert stamps[0] == info.start_ns == 1536225685774768000  # 2018-09-06 09:21:25.774768 UTC
    assert np.all(np.diff(stamps) > 0)
    assert np.median(np.diff(stamps)) == pytest.approx(111e6, abs=1e6)  # Lepton's 9 Hz
    low = min(int(f.counts.min()) for f in frames)
    high = max(int(f.counts.max()) for f in frames)
    assert 2000 < low < high < 4000 < 2**14  # uncalibrated 14-bit counts, not centi-kelvin
    assert all(f.radiometry is None for f in frames)  # the format does not say
    source = RecordingSource(str(CPTV_SAMPLE), loop=False)
    assert source.shape == (120, 160) and source.interval_s == pytest.approx(0.111, abs=0.001)
    assert source.radiometry is None


def test_cptv_metadata_background_frame_and_fpa(tmp_path):
    """A clip written by the package's writer with the fields newer recorders add: camera
    model, fps, FPA temperature, a background frame (skipped); counts above 32767 (TLinear
    centi-kelvin of warm objects) come back exactly."""
    from cptv import CPTVWriter, Frame

    from thermal_perception.io.cptv import read_cptv_info

    path = tmp_path / "clip.cptv"
    start = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    pixels = [29000 + np.arange(120 * 160, dtype=np.uint16).reshape(120, 160) // 4 + 100 * i
              for i in range(3)]
    with open(path, "wb") as file:
        writer = CPTVWriter(file)
        writer.timestamp, writer.fps, writer.model = start, 9, b"lepton3.5"
        writer.device_name, writer.brand = b"cam01", b"flir"
        writer.background_frame = Frame(pixels[0], timedelta(0), timedelta(0), 0.0, 0.0,
                                        background_frame=True)
        for i, pix in enumerate(pixels):
            writer.write_frame(Frame(pix, timedelta(seconds=100, milliseconds=111 * i),
                                     timedelta(seconds=90), 31.5, 30.0))
        writer.close()
    info = read_cptv_info(path)
    assert (info.camera_model, info.brand, info.device_name) == ("lepton3.5", "flir", "cam01")
    assert info.fps == 9.0 and (info.width, info.height) == (160, 120)
    frames = list(read_frames(path))
    assert len(frames) == 3  # the background frame is not part of the clip
    assert all(np.array_equal(f.counts, p) for f, p in zip(frames, pixels, strict=True))
    assert pixels[2].max() > 32767
    start_ns = int(start.timestamp()) * 10**9
    assert [f.stamp_ns for f in frames] == [start_ns + 111_000_000 * i for i in range(3)]
    assert all(f.fpa_temperature_c == 31.5 for f in frames)
    assert all(f.radiometry is None for f in frames)  # a Lepton 3.5 need not be in TLinear


def test_cptv_files_the_package_cannot_read(tmp_path):
    from thermal_perception.io.cptv import CptvFormatError

    data = gzip.decompress(CPTV_SAMPLE.read_bytes())
    future = tmp_path / "future.cptv"
    future.write_bytes(gzip.compress(data[:4] + bytes([3]) + data[5:]))
    with pytest.raises(CptvFormatError, match=r"future\.cptv: CPTV version 3.*Cacophony"):
        list(read_frames(future))
    plain = tmp_path / "plain.cptv"
    plain.write_bytes(data)  # not gzip-compressed
    with pytest.raises(CptvFormatError, match=r"plain\.cptv: .*gzip.*Cacophony"):
        list(read_frames(plain))
    other = tmp_path / "other.cptv"
    other.write_bytes(gzip.compress(b"PNG! and more"))
    with pytest.raises(CptvFormatError, match=r"other\.cptv: no 'CPTV' header"):
        list(read_frames(other))


def test_truncated_cptv_plays_its_whole_frames_with_one_warning(tmp_path):
    cut = tmp_path / "cut.cptv"
    raw = CPTV_SAMPLE.read_bytes()
    cut.write_bytes(raw[:len(raw) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(read_frames(cut))
    assert 30 < len(frames) < 70
    assert len(caught) == 1 and "cut.cptv: frame" in str(caught[0].message)


# -- 16-bit PNG/TIFF sequences with a sidecar -----------------------------------------------


def _sequence(folder: Path, suffix: str, frames: int = 3) -> list[np.ndarray]:
    folder.mkdir()
    counts = [np.full((6, 8), 30315 + 100 * i, np.uint16) for i in range(frames)]
    for i, frame in enumerate(counts):
        frame[0, 0] = 29315  # 20 C in centi-kelvin
        assert cv2.imwrite(str(folder / f"frame_{i:04d}{suffix}"), frame)
    return counts


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
def test_sequence_with_sidecar_reads_in_degrees_c(tmp_path, suffix):
    """A folder of 16-bit frames plus radiometry.yaml: the sidecar gives the processor's
    radiometric model, which converts the frames to deg C."""
    from thermal_perception.analysis.params import converter_from, load_processor_params
    from thermal_perception.core.physics import BandRadianceTable
    from thermal_perception.core.physics.camera import get_profile

    folder = tmp_path / "seq"
    counts = _sequence(folder, suffix)
    (folder / SIDECAR_NAME).write_text("model: tlinear\nresolution_k: 0.01\n")
    frames = list(read_frames(folder))
    assert [f.counts.tolist() for f in frames] == [c.tolist() for c in counts]
    assert all(f.radiometry == Radiometry("tlinear", {"resolution_k": 0.01}) for f in frames)
    params = frames[0].radiometry.processor_parameters()
    assert params == {"radiometric_model": "tlinear", "tlinear_resolution_k": 0.01}
    values, _ = load_processor_params(None, params)
    profile = get_profile(values["camera_profile"])
    converter = converter_from(values, profile, BandRadianceTable(profile.band_m))
    temperature = converter(frames[2].counts)
    assert temperature[0, 0] == pytest.approx(20.0, abs=0.01)
    assert temperature[1, 1] == pytest.approx(32.0, abs=0.01)
    assert RecordingSource(str(folder)).radiometry == frames[0].radiometry


def test_gain_offset_sidecar_and_multipage_tiff(tmp_path):
    from thermal_perception.analysis.params import converter_from, load_processor_params
    from thermal_perception.core.physics import BandRadianceTable
    from thermal_perception.core.physics.camera import get_profile

    folder = tmp_path / "stack"
    folder.mkdir()
    pages = [np.full((4, 5), 1000 + 10 * i, np.uint16) for i in range(4)]
    assert cv2.imwritemulti(str(folder / "stack.tif"), pages)
    (folder / SIDECAR_NAME).write_text("model: gain_offset\ngain_k_per_count: 0.04\n"
                                       "offset_c: -40\n")
    frames = list(read_frames(folder))
    assert [int(f.counts[0, 0]) for f in frames] == [1000, 1010, 1020, 1030]
    values, _ = load_processor_params(None, frames[0].radiometry.processor_parameters())
    assert (values["radiometric_model"], values["gain_k_per_count"], values["offset_c"]) == \
        ("gain_offset", 0.04, -40.0)
    profile = get_profile(values["camera_profile"])
    converter = converter_from(values, profile, BandRadianceTable(profile.band_m))
    assert converter(frames[3].counts)[0, 0] == pytest.approx(1030 * 0.04 - 40.0, abs=0.01)


def test_without_sidecar_frames_are_counts(tmp_path):
    folder = tmp_path / "seq"
    _sequence(folder, ".png", frames=2)
    assert all(f.radiometry is None for f in read_frames(folder))


@pytest.mark.parametrize(("text", "problem"), [
    ("model: tlinear\n", "missing resolution_k"),
    ("model: tlinear\nresolution: 0.01\n", "missing resolution_k; unknown keys resolution"),
    ("model: kelvin\nresolution_k: 0.01\n", "model 'kelvin' is not one of"),
    ("resolution_k: 0.01\n", "model None is not one of"),
    ("model: gain_offset\ngain_k_per_count: 0\noffset_c: 0\n", "not a positive number"),
    ("model: gain_offset\ngain_k_per_count: 0.1\noffset_c: cold\n", "offset_c is 'cold'"),
    ("- tlinear\n", "not a mapping"),
    ("model: [tlinear\n", "unreadable"),
])
def test_bad_sidecar_names_the_file_and_the_keys(tmp_path, text, problem):
    folder = tmp_path / "seq"
    _sequence(folder, ".png", frames=1)
    (folder / SIDECAR_NAME).write_text(text)
    with pytest.raises(ValueError) as error:
        list(read_frames(folder))
    message = str(error.value)
    assert str(folder / SIDECAR_NAME) in message and problem in message, message
    assert "resolution_k" in message and "gain_k_per_count" in message and "offset_c" in message
    with pytest.raises(ValueError, match="radiometry sidecar"):
        read_sidecar(folder / SIDECAR_NAME)


def test_8_bit_and_colour_images_in_a_16_bit_sequence(tmp_path):
    folder = tmp_path / "seq"
    _sequence(folder, ".png", frames=2)
    cv2.imwrite(str(folder / "frame_0002.png"), np.zeros((6, 8), np.uint8))
    frames = read_frames(folder)
    assert next(frames).counts.dtype == np.uint16
    with pytest.raises(ValueError, match=r"frame_0002\.png: uint8 image; expected a 16-bit "
                                         r"single-channel .*8-bit images are renderings"):
        list(frames)
    colour = tmp_path / "colour.tif"
    cv2.imwrite(str(colour), np.zeros((6, 8, 3), np.uint16))
    with pytest.raises(ValueError, match=r"colour\.tif: 3-channel image; expected a 16-bit"):
        list(read_frames(colour))


# -- files that are none of the formats -----------------------------------------------------


def test_unknown_and_unreadable_files_name_the_formats_expected(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(ValueError, match=r"notes\.txt: unknown frame format '\.txt'; expected "
                                         r"a bag .*\.cptv"):
        list(read_frames(notes))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"broken\.png: unreadable image; expected a 16-bit"):
        list(read_frames(broken))
    npy = tmp_path / "broken.npy"
    npy.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=r"broken\.npy: unreadable .*expected a NumPy \.npy"):
        list(read_frames(npy))
    jpeg = tmp_path / "photo.jpg"
    cv2.imwrite(str(jpeg), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"photo\.jpg .*FLIR radiometric JPEG.*DJI R-JPEGs"):
        list(read_frames(jpeg))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no frame files .*expected a bag"):
        list(read_frames(empty))


# -- analyze and convert on recordings that are not bags -------------------------------------


def _quiet(out: Path):
    from thermal_perception.analysis import AnalysisOptions

    return AnalysisOptions(out=out, video=False, bag=False, report=False, progress=False,
                           detect_worker="thread")


def test_analyze_reads_a_cptv_clip_through_a_temporary_bag(tmp_path):
    """``analyze clip.cptv``: all 100 frames processed with their recorded stamps, outputs in
    out/<clip name>/, the temporary bag gone afterwards."""
    import csv

    from thermal_perception.analysis import analyze_bag, find_bags

    assert find_bags([CPTV_SAMPLE]) == [CPTV_SAMPLE]
    r = analyze_bag(CPTV_SAMPLE, _quiet(tmp_path))
    assert r.status == "ok", r.errors
    assert (r.frames, r.frames_processed, r.bag) == (100, 100, str(CPTV_SAMPLE))
    assert Path(r.out_dir) == tmp_path / "v2"
    assert "through a temporary bag (100 frames, 160x120, 9.0 Hz)" in r.warnings[0]
    # real footage analysed with the default warm-body backend: the report advises the model
    assert any(w.startswith("people_detector 'warm_body' on frames from 'recording'")
               for w in r.warnings), r.warnings
    rows = list(csv.DictReader((tmp_path / "v2" / "frames.csv").open()))
    assert int(rows[0]["stamp_ns"]) == 1536225685774768000  # the clip's own stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v2"]  # no temporary bag left


def test_analyze_a_frame_folder_takes_its_sidecar_radiometry(tmp_path):
    """A folder of 16-bit PNGs with radiometry.yaml (TLinear, centi-kelvin), named on the
    command line, is one recording, analysed in deg C; stamps made up at 9 Hz are said. (A
    folder searched for bags does not count its subfolders' images as recordings.)"""
    import csv

    from thermal_perception.analysis import analyze_bag, find_bags

    folder = tmp_path / "seq"
    _sequence(folder, ".png", frames=4)
    (folder / SIDECAR_NAME).write_text("model: tlinear\nresolution_k: 0.01\n")
    assert find_bags([folder]) == [folder] and find_bags([tmp_path]) == []
    r = analyze_bag(folder, _quiet(tmp_path / "out"))
    assert r.status == "ok", r.errors
    assert "stamps made up" in r.warnings[0] and "tlinear" in r.warnings[1]
    rows = list(csv.DictReader((tmp_path / "out" / "seq" / "frames.csv").open()))
    assert len(rows) == 4
    for i, row in enumerate(rows):
        assert float(row["min_c"]) == pytest.approx(20.0, abs=0.02)
        assert float(row["max_c"]) == pytest.approx(30.0 + i, abs=0.02)
    stamps = [int(row["stamp_ns"]) for row in rows]
    assert np.allclose(np.diff(stamps), 1e9 / 9.0, atol=1)


def test_analyze_and_convert_refuse_what_is_no_recording(tmp_path, capsys):
    from thermal_perception.analysis import analyze_bag
    from thermal_perception.cli import main

    notes = tmp_path / "notes.txt"
    notes.write_text("not a recording")
    r = analyze_bag(notes, _quiet(tmp_path / "out"))
    assert r.status == "failed" and "unknown frame format '.txt'" in r.errors[0]
    assert main(["convert", str(notes), str(tmp_path / "bag")]) == 2
    assert "expected a bag" in capsys.readouterr().err
    assert main(["convert", str(CPTV_SAMPLE), str(tmp_path / "bag")]) == 0
    assert "100 frames 160x120 at 9.00 Hz (recorded stamps)" in capsys.readouterr().out
    assert main(["convert", str(CPTV_SAMPLE), str(tmp_path / "bag")]) == 2  # exists
    assert "exists" in capsys.readouterr().err
    frames = list(read_frames(tmp_path / "bag"))
    assert len(frames) == 100 and frames[0].stamp_ns == 1536225685774768000
