"""Processing-chain benchmark: frames per second of the whole chain on 640x512 raw frames on
one core (NUC with drift, bad-pixel replacement, radiometry, AGC and colormap), next to a
straightforward numpy/OpenCV implementation of the same steps measured in the same run.

    python bench/processing.py [--frames 120] [--out out/bench/processing.json]

Baseline (what a first implementation does per frame): float64 NUC, bad pixels replaced from
a 3x3 median filter of the whole frame, the FLIR-style Planck formula inverted per pixel with
numpy, percentile AGC with np.nanpercentile, cv2.applyColorMap.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core, before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy.constants import zero_Celsius  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from thermal_perception.core.correction.chain import ChainConfig, ProcessingChain  # noqa: E402
from thermal_perception.core.correction.nuc import NucTable  # noqa: E402
from thermal_perception.core.display.render import DisplayRenderer  # noqa: E402
from thermal_perception.core.kernels import numba_enabled  # noqa: E402
from thermal_perception.core.physics.calibration import CountsToTemperature  # noqa: E402
from thermal_perception.core.physics.camera import get_profile  # noqa: E402
from thermal_perception.sim.simulator import ThermalSimulator  # noqa: E402


def baseline_frame(raw, gain, offset, bad, cal, planck_b, out_bgr):
    """The straightforward per-frame implementation."""
    counts = gain * raw.astype(np.float64) + offset
    median = cv2.medianBlur(np.clip(counts, 0, 65535).astype(np.uint16), 3)
    counts[bad] = median[bad]
    radiance = (counts - cal.offset_counts) / cal.gain + cal.radiance_at_offset
    # one-term Planck inversion fitted to the band (FLIR-style B constant), per pixel
    r1, b = planck_b
    with np.errstate(invalid="ignore", divide="ignore"):
        temperature = b / np.log(r1 / radiance + 1.0) - zero_Celsius
    lo, hi = np.nanpercentile(temperature, (1, 99))
    mono = np.clip((temperature - lo) * (255.0 / max(hi - lo, 1e-3)), 0, 255).astype(np.uint8)
    cv2.applyColorMap(mono, cv2.COLORMAP_INFERNO, dst=out_bgr)
    return temperature


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "processing.json")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    profile = get_profile("boson640")
    sim = ThermalSimulator(profile, speed_mps=4.0, seed=1, defects=True)
    raws = [sim.counts(i / 30).copy() for i in range(30)]
    defects = sim.sensor.defects
    nuc = NucTable(gain=(1.0 / defects.gain).astype(np.float32),
                   offset=(-defects.offset_counts / defects.gain).astype(np.float32),
                   drift_counts_per_k=-defects.drift_counts_per_k,
                   fpa_reference_c=profile.fpa_reference_c, bad_pixels=defects.bad,
                   full_scale_counts=profile.full_scale_counts)
    path = REPO / "out" / "bench" / "bench_nuc"
    path.parent.mkdir(parents=True, exist_ok=True)
    nuc.save(path)
    converter = CountsToTemperature(sim.calibration, sim.table)
    chain = ProcessingChain(ChainConfig(nuc_file=str(path), ffc=False), converter)
    renderer = DisplayRenderer(agc="percentile", colormap="ironbow")
    fpa = sim.fpa_temperature_c(1.0)

    # the baseline's one-term Planck fit L = r1 / (exp(b / T) - 1) through two points
    t1, t2 = 263.15, 373.15
    l1, l2 = (float(sim.table.radiance(t)) for t in (t1, t2))
    from scipy.optimize import brentq

    b = brentq(lambda b: l1 * np.expm1(b / t1) - l2 * np.expm1(b / t2), 100.0, 5000.0)
    r1 = l1 * np.expm1(b / t1)
    bgr = np.empty((*raws[0].shape, 3), np.uint8)

    def run(step) -> float:
        """Frames per second from the median frame time (robust to a noisy machine)."""
        for raw in raws[:5]:  # warm-up: allocation, caches
            step(raw)
        times = []
        for i in range(args.frames):
            start = time.perf_counter()
            step(raws[i % len(raws)])
            times.append(time.perf_counter() - start)
        return 1.0 / float(np.median(times))

    def ours(raw):
        renderer.render(chain.temperature(raw, fpa, 1 / 30))

    def baseline(raw):
        baseline_frame(raw, nuc.gain, nuc.offset, nuc.bad_pixels, sim.calibration, (r1, b), bgr)

    fps_base = run(baseline)
    fps_ours = run(ours)
    display = renderer.render(chain.temperature(raws[0], fpa, 1 / 30)).copy()
    fps_jpeg = run(lambda _raw: cv2.imencode(".jpg", display, [cv2.IMWRITE_JPEG_QUALITY, 80]))
    jpeg_kb = len(cv2.imencode(".jpg", display, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]) / 1e3
    diff = np.nanmax(np.abs(chain.temperature(raws[0], fpa) - baseline_frame(
        raws[0], nuc.gain, nuc.offset, nuc.bad_pixels, sim.calibration, (r1, b), bgr)))
    print(f"640x512 raw frames, one core, median of {args.frames} frames each")
    print(f"baseline (numpy per frame)   {fps_base:7.1f} fps  {1e3 / fps_base:6.2f} ms/frame")
    print(f"thermal_perception chain     {fps_ours:7.1f} fps  {1e3 / fps_ours:6.2f} ms/frame"
          f"  ({'numba' if numba_enabled() else 'numpy'} NUC and lookup)")
    print(f"speed-up {fps_ours / fps_base:.1f}x (goal: >= 500 fps); baseline's one-term Planck "
          f"fit differs by up to {diff:.2f} K")
    print(f"display as JPEG, quality 80 (image_display/compressed, only while subscribed): "
          f"{1e3 / fps_jpeg:.2f} ms/frame, {fps_ours / fps_jpeg:.2f}x the chain; {jpeg_kb:.0f} kB "
          f"against {display.nbytes / 1e3:.0f} kB raw")
    args.out.write_text(json.dumps({"fps_baseline": fps_base, "fps_chain": fps_ours,
                                    "speedup": fps_ours / fps_base,
                                    "fps_display_jpeg": fps_jpeg, "display_jpeg_kb": jpeg_kb,
                                    "numba": numba_enabled()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
