"""Real FLIR files that are damaged or written the other way round (issue 19, items 2 and 3):
a truncated .seq plays its whole frames with one warning naming the file and the frame; a
little-endian FFF file reads as the big-endian original does; errors name the file."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import FLIR_DATA

from thermal_perception.io.flir import (
    CAMERA_INFO_FIELDS,
    CAMERA_INFO_RECORD,
    RAW_HEADER_BYTES,
    RAW_RECORD,
    FlirFormatError,
    read_fff,
    read_seq,
    record_temperature_c,
)
from thermal_perception.io.frames import read_frames
from thermal_perception.io.sources import RecordingSource

FFF = FLIR_DATA / "frame_000000.fff"
SEQ = FLIR_DATA / "test.seq"
pytestmark = pytest.mark.skipif(not SEQ.is_file(), reason=f"no FLIR data at {FLIR_DATA}")
SEQ_CUT_BYTES = 2304974  # 3 whole frames and a cut fourth (issue 19)


def little_endian_copy(data: bytes) -> bytes:
    """The FFF record with every field our reader reads written little-endian: header,
    directory, raw record (size and pixels) and camera info, as such cameras write them."""
    out = bytearray(data)

    def swap(fmt: str, at: int) -> tuple:
        values = struct.unpack_from(">" + fmt, data, at)
        struct.pack_into("<" + fmt, out, at, *values)
        return values

    swap("I", 0x14)  # version
    dir_offset, count = swap("II", 0x18)
    for i in range(count):
        rtype, _sub, _ver, _id, offset, _length = swap("HHIIIIIII", dir_offset + 32 * i)[:6]
        if rtype == RAW_RECORD:
            width, height = struct.unpack_from(">HH", data, offset + 2)
            if not 0 < width < 10000:  # the raw header of the sample is little-endian already
                width, height = struct.unpack_from("<HH", data, offset + 2)
            else:
                swap("HH", offset + 2)
            pixels = offset + RAW_HEADER_BYTES
            order = "<" if 0 < struct.unpack_from("<H", data, offset + 2)[0] < 10000 else ">"
            raw = np.frombuffer(data, order + "u2", width * height, pixels)
            out[pixels:pixels + 2 * width * height] = raw.astype("<u2").tobytes()
        elif rtype == CAMERA_INFO_RECORD:
            little = 0.0 < struct.unpack_from("<f", data, offset + 0x20)[0] <= 1.0
            if not little:  # the reader's own test: emissivity in (0, 1] read little-endian
                for off, code in CAMERA_INFO_FIELDS.values():
                    swap(code, offset + off)
    return bytes(out)


def test_little_endian_fff_reads_as_the_original(tmp_path: Path) -> None:
    original = FFF.read_bytes()
    swapped = little_endian_copy(original)
    assert swapped[0x18:0x20] != original[0x18:0x20]  # the directory really is swapped
    path = tmp_path / "le.fff"
    path.write_bytes(swapped)
    a, b = read_fff(FFF), read_fff(path)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert a.metadata == pytest.approx(b.metadata)
    ta, tb = record_temperature_c(a), record_temperature_c(b)
    np.testing.assert_allclose(ta, tb, atol=1e-6)
    assert 5.0 < float(np.median(tb)) < 15.0  # the sample's cool outdoor scene


def big_endian_records_copy(data: bytes) -> bytes:
    """The sample's raw and camera-info records as an older camera (ThermaCAM EX320) writes
    them: headers and constants big-endian, emissivity 1.0, the pixels still little-endian."""
    out = bytearray(data)
    dir_offset, count = struct.unpack_from(">II", data, 0x18)
    for i in range(count):
        rtype, _sub, _ver, _id, offset, _length = struct.unpack_from(">HHIIII", data,
                                                                    dir_offset + 32 * i)
        if rtype == RAW_RECORD:
            assert struct.unpack_from("<H", data, offset)[0] == 2  # little-endian in the sample
            struct.pack_into(">HHH", out, offset, 2, *struct.unpack_from("<HH", data, offset + 2))
        elif rtype == CAMERA_INFO_RECORD:
            struct.pack_into(">H", out, offset, 2)
            for name, (off, code) in CAMERA_INFO_FIELDS.items():
                value = 1.0 if name == "emissivity" else \
                    struct.unpack_from("<" + code, data, offset + off)[0]
                struct.pack_into(">" + code, out, offset + off, value)
    return bytes(out)


def test_big_endian_records_with_emissivity_one_read_right(tmp_path: Path) -> None:
    """Emissivity 1.0 written big-endian reads 4.6e-41 little-endian, which passed the old
    'emissivity in (0, 1]' test of the byte order and gave garbage constants (a real EX320
    photo failed with "relative_humidity must be a fraction"). The records' first word (2 in
    their own order) decides, and the pixels keep the order that reads as a scene."""
    path = tmp_path / "be.fff"
    path.write_bytes(big_endian_records_copy(FFF.read_bytes()))
    a, b = read_fff(FFF), read_fff(path)
    np.testing.assert_array_equal(a.raw, b.raw)
    assert b.metadata["emissivity"] == 1.0
    assert {k: v for k, v in b.metadata.items() if k != "emissivity"} == \
        pytest.approx({k: v for k, v in a.metadata.items() if k != "emissivity"})
    t = record_temperature_c(b)
    assert np.isfinite(t).all() and 0.0 < float(np.median(t)) < 20.0


def test_truncated_seq_plays_its_whole_frames_with_one_warning(tmp_path: Path) -> None:
    cut = tmp_path / "t.seq"
    cut.write_bytes(SEQ.read_bytes()[:SEQ_CUT_BYTES])
    whole = [r.raw for r in read_seq(SEQ)][:3]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = [f.counts for f in read_frames(cut)]
    assert len(frames) == 3
    for got, want in zip(frames, whole, strict=True):
        np.testing.assert_array_equal(got, want)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1
    assert str(cut) in messages[0] and "frame 3" in messages[0] and "3 whole frames" in \
        messages[0]
    # the driver's recording source plays the three, then loops (no FATAL, no exit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        source = RecordingSource(str(cut), loop=True)
        played = [source.read(i / 30).counts for i in range(7)]
    np.testing.assert_array_equal(played[3], whole[0])
    assert source.loops == 2


def test_damaged_flir_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cut.fff"
    bad.write_bytes(FFF.read_bytes()[:5000])
    with pytest.raises(FlirFormatError, match=r"cut\.fff \(FLIR FFF\)"):
        read_fff(bad)
    first_cut = tmp_path / "first.seq"
    first_cut.write_bytes(SEQ.read_bytes()[:300_000])  # not even one whole frame
    with pytest.raises(FlirFormatError, match=r"first\.seq \(FLIR SEQ\) frame 0"):
        list(read_frames(first_cut))


def test_record_temperatures_through_the_table_equal_the_formula():
    """Issue 19 item 9: FLIR files convert through a 65536-entry table per set of constants;
    the temperatures are the formula's (here bit for bit; the goal is < 1 mK), little- and
    big-endian raw alike, and NaN where the formula gives NaN."""
    from thermal_perception.io import flir

    records = [*list(flir.read_seq(FLIR_DATA / "test.seq"))[:3],
               flir.read_fff(FLIR_DATA / "frame_000000.fff")]
    for record in records:
        formula = flir._temperature_c(record.metadata, record.raw,
                                      np.empty(record.raw.shape, np.float32))
        for raw in (record.raw, record.raw.astype(">u2")):
            table = flir.record_temperature_c(flir.FffRecord(raw, record.metadata))
            assert table.dtype == np.float32 and table.shape == raw.shape
            np.testing.assert_array_equal(np.isnan(table), np.isnan(formula))
            assert np.nanmax(np.abs(table - formula)) < 1e-3
