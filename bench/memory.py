"""Memory per stream: resident memory (RSS) that one more 640x512 stream adds to a process,
i.e. what a processor node builds for it (counts -> temperature table, processing chain,
display renderer, the temperature buffer), next to the frame data a stream has to hold at
the least (raw uint16 + temperature float32 + display bgr8), measured in the same run.

    python bench/memory.py [--streams 4] [--frames 5] [--out out/bench/memory.json]

Process-level memory (driver and processor processes against a bare rclpy relay) is measured
by bench/transport.py while its pipelines run.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import rss_mib  # noqa: E402

from thermal_perception.core.physics import BandRadianceTable  # noqa: E402
from thermal_perception.core.physics.camera import get_profile  # noqa: E402
from thermal_perception.settings.processor import (  # noqa: E402
    PARAMS,
    chain_from,
    converter_from,
    renderer_from,
)
from thermal_perception.sim.simulator import ThermalSimulator  # noqa: E402

MIB = 1024.0 * 1024.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--frames", type=int, default=5, help="frames through each stream")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench" / "memory.json")
    args = parser.parse_args()
    profile = get_profile("boson640")
    values = {spec.name: spec.default for spec in PARAMS}
    table = BandRadianceTable(profile.band_m)
    sim = ThermalSimulator(profile, speed_mps=4.0, seed=3)
    raws = [sim.counts(i / 30).copy() for i in range(args.frames)]

    def new_stream() -> tuple:
        converter = converter_from(values, profile, table)
        chain = chain_from(values, profile, converter)
        renderer = renderer_from(values)
        temperature = np.empty(raws[0].shape, np.float32)
        for raw in raws:  # buffers are allocated on the first frames
            converter(chain.corrected_counts(raw), out=temperature)
            renderer.render(temperature)
        return converter, chain, renderer, temperature

    kept = [new_stream()]  # the first one pays for imports, caches and code paths
    gc.collect()
    before = rss_mib()
    for _ in range(args.streams):
        kept.append(new_stream())
    gc.collect()
    after = rss_mib()
    per_stream = (after - before) / args.streams
    height, width = raws[0].shape
    frame_data = width * height * (2 + 4 + 3) / MIB
    ratio = per_stream / frame_data
    print(f"{width}x{height} streams in one process, {args.streams} streams after a first one")
    print(f"frame data a stream must hold (raw + temperature + bgr8)  {frame_data:7.2f} MiB")
    print(f"RSS added per stream (table + chain + renderer + buffers) {per_stream:7.2f} MiB "
          f"({ratio:.1f}x the frame data)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"streams": args.streams, "size": [width, height],
                                    "rss_before_mib": before, "rss_after_mib": after,
                                    "per_stream_mib": per_stream,
                                    "frame_data_mib": frame_data,
                                    "ratio_over_frame_data": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
