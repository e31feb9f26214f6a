"""Radiometry against peer libraries: the same real FLIR raw data (data/flir, read by
thermal_perception.io.flir) converted to deg C by each installed peer's formula and by ours,
with the time ratio and the largest difference in K, measured in the same run.

    python bench/peers.py [--repeats 30] [--data data/flir] [--out out/bench/peers.json]

Peers (a bench extra: pip install --no-deps -r requirements/bench.txt; any that are missing
are skipped with a line saying so):
  flirpy              flirpy.util.raw.raw2temp(raw, meta) (Thermimage's raw2temp, numpy)
  flirimageextractor  FlirImageExtractor.raw2temp (Thermimage's raw2temp) and
                      utils.sensor_vals_to_temp (the same with numpy scalars)
  flyr                FlyrThermogram(raw, metadata).celsius
Every peer gets the conditions of the file's metadata as read by our reader (temperatures
K -> deg C with 273.15), so the difference is that of the formulas and their arithmetic.
Two timings per peer: one 640x512 frame (our lookup table built once per stream, as the
processor does; its setup time is printed apart), and one file read and converted from
scratch (ours includes building the table: for a single file a peer can be faster).
"""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # flirimageextractor imports pyplot

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.constants import zero_Celsius

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from thermal_perception.core.physics import BandRadianceTable  # noqa: E402
from thermal_perception.core.physics.calibration import (  # noqa: E402
    CountsToTemperature,
    MeasurementConditions,
    make_model,
)
from thermal_perception.io.flir import read_fff, read_seq  # noqa: E402

DEFAULT_DATA = REPO / "data" / "flir"
INSTALL_HINT = "pip install --no-deps -r requirements/bench.txt"


def conditions_c(meta: dict[str, float]) -> dict[str, float]:
    """Measurement conditions of an FFF record's metadata, deg C and 0..1."""
    return {"emissivity": meta["emissivity"], "distance_m": meta["distance_m"],
            "reflected_c": meta["reflected_k"] - zero_Celsius,
            "atmosphere_c": meta["atmosphere_k"] - zero_Celsius,
            "window_c": meta["window_k"] - zero_Celsius,
            "window_transmission": meta["window_transmission"],
            "relative_humidity": meta["relative_humidity"]}


def our_converter(meta: dict[str, float]) -> CountsToTemperature:
    """The package's counts -> deg C table for an FFF record's camera and conditions."""
    c = conditions_c(meta)
    model = make_model("flir_planck", BandRadianceTable(), R1=meta["R1"], R2=meta["R2"],
                       B=meta["B"], F=meta["F"], O=meta["O"])
    return CountsToTemperature(model, conditions=MeasurementConditions(
        emissivity=c["emissivity"], reflected_temperature_c=c["reflected_c"],
        atmosphere_temperature_c=c["atmosphere_c"], distance_m=c["distance_m"],
        relative_humidity=c["relative_humidity"], window_temperature_c=c["window_c"],
        window_transmission=c["window_transmission"]))


def flirpy_peer(meta: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    from flirpy.util.raw import raw2temp

    c = conditions_c(meta)
    flirpy_meta = {
        "Atmospheric Trans Alpha 1": meta["alpha1"], "Atmospheric Trans Alpha 2": meta["alpha2"],
        "Atmospheric Trans Beta 1": meta["beta1"], "Atmospheric Trans Beta 2": meta["beta2"],
        "Atmospheric Trans X": meta["x"], "Planck R1": meta["R1"], "Planck R2": meta["R2"],
        "Planck O": meta["O"], "Planck B": meta["B"], "Planck F": meta["F"],
        "Emissivity": c["emissivity"], "IR Window Transmission": c["window_transmission"],
        "IR Window Temperature": c["window_c"], "Object Distance": c["distance_m"],
        "Atmospheric Temperature": c["atmosphere_c"],
        "Reflected Apparent Temperature": c["reflected_c"],
        "Relative Humidity": c["relative_humidity"]}
    return lambda raw: raw2temp(raw, flirpy_meta)


def _fie_kwargs(meta: dict[str, float]) -> dict[str, float]:
    c = conditions_c(meta)
    return {"E": c["emissivity"], "OD": c["distance_m"], "RTemp": c["reflected_c"],
            "ATemp": c["atmosphere_c"], "IRWTemp": c["window_c"],
            "IRT": c["window_transmission"], "RH": 100.0 * c["relative_humidity"],
            "PR1": meta["R1"], "PB": meta["B"], "PF": meta["F"], "PO": meta["O"],
            "PR2": meta["R2"]}


def fie_raw2temp_peer(meta: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    from flirimageextractor import FlirImageExtractor

    kwargs = _fie_kwargs(meta)
    return lambda raw: FlirImageExtractor.raw2temp(raw, **kwargs)


def fie_sensor_vals_peer(meta: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    from flirimageextractor.utils import sensor_vals_to_temp

    k = _fie_kwargs(meta)
    kwargs = {"Emissivity": k["E"], "ObjectDistance": k["OD"],
              "AtmosphericTemperature": k["ATemp"], "ReflectedApparentTemperature": k["RTemp"],
              "IRWindowTemperature": k["IRWTemp"], "IRWindowTransmission": k["IRT"],
              "RelativeHumidity": k["RH"], "PlanckR1": k["PR1"], "PlanckB": k["PB"],
              "PlanckF": k["PF"], "PlanckO": k["PO"], "PlanckR2": k["PR2"]}
    return lambda raw: sensor_vals_to_temp(raw, **kwargs)


def flyr_peer(meta: dict[str, float]) -> Callable[[np.ndarray], np.ndarray]:
    from flyr import FlyrThermogram

    flyr_meta = {  # flyr keeps temperatures in K, humidity 0..1
        "emissivity": meta["emissivity"], "object_distance": meta["distance_m"],
        "atmospheric_temperature": meta["atmosphere_k"],
        "ir_window_temperature": meta["window_k"],
        "ir_window_transmission": meta["window_transmission"],
        "reflected_apparent_temperature": meta["reflected_k"],
        "relative_humidity": meta["relative_humidity"], "planck_r1": meta["R1"],
        "planck_r2": meta["R2"], "planck_b": meta["B"], "planck_f": meta["F"],
        "planck_o": int(meta["O"]), "atmospheric_trans_alpha1": meta["alpha1"],
        "atmospheric_trans_alpha2": meta["alpha2"], "atmospheric_trans_beta1": meta["beta1"],
        "atmospheric_trans_beta2": meta["beta2"], "atmospheric_trans_x": meta["x"]}
    return lambda raw: FlyrThermogram(raw, flyr_meta).celsius


# name -> (module that must be importable, factory of raw -> deg C for a record's metadata)
PEERS: dict[str, tuple[str, Callable[[dict[str, float]], Callable[[np.ndarray], np.ndarray]]]] = {
    "flirpy raw2temp": ("flirpy", flirpy_peer),
    "flirimageextractor raw2temp": ("flirimageextractor", fie_raw2temp_peer),
    "flirimageextractor sensor_vals_to_temp": ("flirimageextractor", fie_sensor_vals_peer),
    "flyr FlyrThermogram.celsius": ("flyr", flyr_peer),
}


def timings_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(median, best) wall time of ``fn()``, ms, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def max_difference_k(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |a - b| over pixels finite in both, K (NaN if none)."""
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.max(np.abs(a[both] - b[both]))) if both.any() else float("nan")


def flirpy_file_to_temperature(path: Path) -> np.ndarray:
    """flirpy's own path from a file: its reader, its metadata, raw2temp."""
    from flirpy.io.fff import Fff

    return Fff(str(path)).get_radiometric_image()


def ours_file_to_temperature(path: Path) -> np.ndarray:
    """Ours from a file: read_fff, build the table, convert."""
    record = read_fff(path)
    return our_converter(record.metadata)(record.raw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "peers.json")
    args = parser.parse_args()
    fff, seq = args.data / "frame_000000.fff", args.data / "test.seq"
    if not fff.is_file():
        print(f"real FLIR data not found at {args.data}: peer comparison skipped")
        return 0
    record = read_fff(fff)
    raw, meta = record.raw, record.metadata
    frames = [raw] + ([r.raw for r in read_seq(seq)] if seq.is_file() else [])

    start = time.perf_counter()
    convert = our_converter(meta)
    setup_ms = (time.perf_counter() - start) * 1e3
    out = np.empty(raw.shape, np.float32)
    ours_ms, ours_best = timings_ms(lambda: convert(raw, out=out), args.repeats)
    ours_frames = [convert(f).astype(np.float64) for f in frames]
    print(f"real FLIR data: {fff.name} ({raw.shape[1]}x{raw.shape[0]}, {meta['R1']:.0f}/"
          f"{meta['B']:.0f}/{meta['O']:.0f} R1/B/O) + {len(frames) - 1} frames of {seq.name}; "
          f"median of {args.repeats} [best]")
    print(f"{'thermal_perception lookup table':40s} {ours_ms:8.3f} ms [{ours_best:.3f}]   "
          f"(table built once per stream: {setup_ms:.0f} ms)")
    results: dict[str, Any] = {"frame": fff.name, "frames_compared": len(frames),
                               "repeats": args.repeats, "ours_ms": ours_ms,
                               "ours_best_ms": ours_best, "ours_setup_ms": setup_ms,
                               "peers": {}, "skipped": {}, "slower_than": []}
    for name, (module, factory) in PEERS.items():
        if importlib.util.find_spec(module) is None:
            results["skipped"][name] = f"{module} not installed ({INSTALL_HINT})"
            print(f"{name:40s} skipped: {module} is not installed ({INSTALL_HINT})")
            continue
        try:
            peer = factory(meta)
            peer_ms, peer_best = timings_ms(lambda peer=peer: peer(raw), args.repeats)
            diff = max(max_difference_k(np.asarray(peer(f), np.float64), o)
                       for f, o in zip(frames, ours_frames, strict=True))
        except Exception as exc:  # a peer that breaks on this data is reported, not fatal
            results["skipped"][name] = f"failed: {type(exc).__name__}: {exc}"
            print(f"{name:40s} failed on this data: {type(exc).__name__}: {exc}")
            continue
        ratio = peer_ms / ours_ms
        results["peers"][name] = {"ms": peer_ms, "best_ms": peer_best,
                                  "speedup_ours": ratio, "max_difference_k": diff}
        verdict = (f"ours {ratio:.1f}x faster" if ratio >= 1.0 else
                   f"WE ARE SLOWER: {name} is {1 / ratio:.1f}x faster than ours")
        if ratio < 1.0:
            results["slower_than"].append(name)
        print(f"{name:40s} {peer_ms:8.3f} ms [{peer_best:.3f}]   {verdict}; max difference "
              f"{diff * 1e3:.3f} mK over {len(frames)} frames")

    # one file from scratch: reader + metadata + conversion (ours builds its table here)
    ours_file_ms, _ = timings_ms(lambda: ours_file_to_temperature(fff), max(3, args.repeats // 6))
    results["file_ours_ms"] = ours_file_ms
    print(f"{'one file from scratch: thermal_perception':40s} {ours_file_ms:8.1f} ms "
          f"(read_fff + table + convert)")
    if importlib.util.find_spec("flirpy") is not None:
        flirpy_file_ms, _ = timings_ms(lambda: flirpy_file_to_temperature(fff),
                                       max(3, args.repeats // 6))
        own = max_difference_k(flirpy_file_to_temperature(fff), ours_frames[0])
        ratio = flirpy_file_ms / ours_file_ms
        results["file_flirpy"] = {"ms": flirpy_file_ms, "speedup_ours": ratio,
                                  "max_difference_k": own}
        verdict = (f"ours {ratio:.1f}x faster" if ratio >= 1.0 else
                   f"WE ARE SLOWER on a single file: flirpy is {1 / ratio:.1f}x faster "
                   f"(our table costs {setup_ms:.0f} ms once per stream)")
        if ratio < 1.0:
            results["slower_than"].append("flirpy Fff(file).get_radiometric_image")
        print(f"{'one file from scratch: flirpy Fff':40s} {flirpy_file_ms:8.1f} ms   {verdict}; "
              f"max difference {own * 1e3:.1f} mK (flirpy's reader turns K into C with 273.14)")
    else:
        print(f"{'one file from scratch: flirpy Fff':40s} skipped: flirpy is not installed")
    if results["slower_than"]:
        print("we are slower than: " + ", ".join(results["slower_than"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
