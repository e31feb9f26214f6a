"""Radiometry benchmark: counts -> temperature of a 640x512 frame, the package's per-stream
lookup table against a straightforward numpy implementation of the FLIR formula (as peer
libraries such as flirpy and Thermimage apply it per frame), in the same run.

    python bench/radiometry.py [--repeats 50] [--out out/bench/radiometry.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from thermal_perception.core.kernels import numba_enabled, warm_up  # noqa: E402
from thermal_perception.core.physics import BandRadianceTable  # noqa: E402
from thermal_perception.core.physics.calibration import (  # noqa: E402
    CountsToTemperature,
    MeasurementConditions,
    make_model,
)

# FLIR Duo Pro R constants and scene parameters of data/flir/frame_000000.txt
R1, R2, B, F, O = 364058.0, 1.0, 1428.0, 1.0, -228.0  # noqa: E741 - FLIR's names
EMISSIVITY, DISTANCE_M, RH = 0.94, 50.0, 0.30
REFLECTED_C = ATMOSPHERE_C = 20.0
WINDOW_C, WINDOW_T = 22.0, 1.0
X, A1, A2, B1, B2 = 1.9, 0.006569, 0.012620, -0.002276, -0.006670


def flir_formula_numpy(raw: np.ndarray) -> np.ndarray:
    """The FLIR raw -> deg C formula written out in numpy, per frame (Thermimage raw2temp)."""
    h2o = RH * np.exp(1.5587 + 0.06939 * ATMOSPHERE_C - 0.00027816 * ATMOSPHERE_C**2
                      + 0.00000068455 * ATMOSPHERE_C**3)
    half = np.sqrt(DISTANCE_M / 2)
    tau = (X * np.exp(-half * (A1 + B1 * np.sqrt(h2o)))
           + (1 - X) * np.exp(-half * (A2 + B2 * np.sqrt(h2o))))

    def raw_of(t_c: float) -> float:
        return R1 / (R2 * (np.exp(B / (t_c + 273.15)) - F)) - O

    emiss_wind = 1 - WINDOW_T
    raw_refl1 = raw_of(REFLECTED_C) * (1 - EMISSIVITY) / EMISSIVITY
    raw_atm1 = raw_of(ATMOSPHERE_C) * (1 - tau) / EMISSIVITY / tau
    raw_wind = raw_of(WINDOW_C) * emiss_wind / EMISSIVITY / tau / WINDOW_T
    raw_refl2 = 0.0
    raw_atm2 = raw_of(ATMOSPHERE_C) * (1 - tau) / EMISSIVITY / tau / WINDOW_T / tau
    raw_obj = (raw / EMISSIVITY / tau / WINDOW_T / tau - raw_atm1 - raw_atm2 - raw_wind
               - raw_refl1 - raw_refl2)
    return B / np.log(R1 / (R2 * (raw_obj + O)) + F) - 273.15


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "radiometry.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    raw = rng.integers(2600, 2760, (512, 640)).astype(np.uint16)  # the recording's range

    start = time.perf_counter()
    warm_up()  # once per process: numba loads (or compiles) the kernels; nothing without it
    load_ms = (time.perf_counter() - start) * 1e3
    start = time.perf_counter()
    model = make_model("flir_planck", BandRadianceTable(), R1=R1, R2=R2, B=B, F=F, O=O)
    conditions = MeasurementConditions(
        emissivity=EMISSIVITY, reflected_temperature_c=REFLECTED_C,
        atmosphere_temperature_c=ATMOSPHERE_C, distance_m=DISTANCE_M, relative_humidity=RH,
        window_temperature_c=WINDOW_C, window_transmission=WINDOW_T)
    convert = CountsToTemperature(model, conditions=conditions)
    setup_ms = (time.perf_counter() - start) * 1e3
    out = np.empty(raw.shape, np.float32)

    baseline_ms = best_of(lambda: flir_formula_numpy(raw.astype(np.float64)), args.repeats)
    ours_ms = best_of(lambda: convert(raw, out=out), args.repeats)
    max_diff = float(np.max(np.abs(convert(raw) - flir_formula_numpy(raw.astype(np.float64)))))
    ratio = baseline_ms / ours_ms
    print(f"640x512 frame, best of {args.repeats}")
    print(f"numpy FLIR formula (per frame)      {baseline_ms:8.3f} ms")
    print(f"thermal_perception lookup table     {ours_ms:8.3f} ms   (setup once per stream: "
          f"{setup_ms:.0f} ms)")
    print(f"  {'numba kernel, loaded once per process' if numba_enabled() else 'numpy take'}"
          f" ({load_ms:.0f} ms)")
    print(f"speed-up {ratio:.1f}x (goal >= 20x), max difference {max_diff * 1e3:.3f} mK")
    # FLIR files (FFF/SEQ/R-JPEG: recording source, analyze, calibrate): one table per set
    # of the file's constants, against the formula applied per frame, on the real SEQ sample
    from thermal_perception.io import flir

    seq = Path(__file__).resolve().parents[1] / "data" / "flir" / "test.seq"
    record = next(flir.read_seq(seq))
    file_base_ms = best_of(lambda: flir._temperature_c(record.metadata, record.raw, out),
                           args.repeats)
    flir.record_temperature_c(record)  # the file's table, made once
    file_ms = best_of(lambda: flir.record_temperature_c(record, out=out), args.repeats)
    file_diff = float(np.nanmax(np.abs(flir.record_temperature_c(record) - flir._temperature_c(
        record.metadata, record.raw, np.empty(record.raw.shape, np.float32)))))
    print(f"FLIR file frame ({seq.name}): formula {file_base_ms:.3f} ms, table {file_ms:.3f} ms,"
          f" speed-up {file_base_ms / file_ms:.1f}x (goal >= 10x), max difference "
          f"{file_diff * 1e3:.3f} mK")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"baseline_ms": baseline_ms, "ours_ms": ours_ms,
                                    "speedup": ratio, "max_difference_k": max_diff,
                                    "setup_ms": setup_ms, "kernel_load_ms": load_ms,
                                    "numba": numba_enabled(),
                                    "flir_file_formula_ms": file_base_ms,
                                    "flir_file_table_ms": file_ms,
                                    "flir_file_max_difference_k": file_diff}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
