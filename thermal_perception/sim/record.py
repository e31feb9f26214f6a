"""Write simulated sequences to a rosbag2 bag with their ground truth (no ROS needed).

Topics (``<ns>`` = namespace): ``<ns>/image_raw`` (mono16 counts), ``<ns>/camera_info``,
``<ns>/status`` (ThermalStatus), and, with truth, ``/truth/temperature`` (32FC1, kinetic
surface temperature, deg C), ``/truth/apparent_temperature`` (32FC1, blackbody-equivalent at
the camera, deg C), ``/truth/emissivity`` (32FC1) and ``/truth/labels`` (mono8, class ids of
:data:`thermal_perception.sim.scenes.LABELS`). Stamps are the simulated capture times.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from thermal_perception.core.physics.camera import get_profile
from thermal_perception.io import messages
from thermal_perception.io.bag import BagWriter
from thermal_perception.sim.simulator import ThermalSimulator

START_NS = 1_700_000_000 * messages.NS_PER_S  # a fixed epoch keeps bags reproducible


@dataclass
class SimulationOptions:
    out: Path = Path("out/sim/bag")
    frames: int = 90
    camera_profile: str = "boson640"
    width: int = 0
    height: int = 0
    rate_hz: float = 0.0
    scene: str = "uav_sar"
    altitude_m: float = 60.0
    speed_mps: float = 4.0
    time_of_day: str = "day"
    air_temperature_c: float = 15.0
    seed: int = 0
    defects: bool = False
    blackbody_temperature_c: float = 35.0  # the "blackbody" scene's temperature
    truth: bool = True
    namespace: str = "thermal"
    frame_id: str = "thermal_camera_optical_frame"
    storage: str = "sqlite3"


def simulate_to_bag(options: SimulationOptions, progress: bool = True) -> dict[str, Any]:
    """Simulate ``options.frames`` frames into a new bag; returns a summary."""
    if options.frames < 1:
        raise ValueError("frames must be >= 1")
    profile = get_profile(options.camera_profile)
    if options.width or options.height:
        profile = profile.with_size(options.width or profile.width,
                                    options.height or profile.height)
    rate = options.rate_hz or profile.rate_hz
    sim = ThermalSimulator(profile, options.scene, altitude_m=options.altitude_m,
                           speed_mps=options.speed_mps, seed=options.seed,
                           time_of_day=options.time_of_day,
                           air_temperature_c=options.air_temperature_c,
                           defects=options.defects,
                           scene_options=({"temperature_c": options.blackbody_temperature_c}
                                          if options.scene == "blackbody" else None))
    ns = "/" + options.namespace.strip("/") if options.namespace.strip("/") else ""
    topics = {"raw": f"{ns}/image_raw", "info": f"{ns}/camera_info", "status": f"{ns}/status"}
    with BagWriter(options.out, storage=options.storage) as bag:
        store = bag.typestore
        bag.add_topic(topics["raw"], "sensor_msgs/msg/Image")
        bag.add_topic(topics["info"], "sensor_msgs/msg/CameraInfo")
        bag.add_topic(topics["status"], "thermal_perception/msg/ThermalStatus")
        if options.truth:
            for name in ("temperature", "apparent_temperature", "emissivity", "labels"):
                bag.add_topic(f"/truth/{name}", "sensor_msgs/msg/Image")
        frame_id = options.frame_id
        for index in tqdm(range(options.frames), desc="simulating", unit="frame",
                          disable=not progress):
            time_s = index / rate
            stamp = START_NS + round(time_s * messages.NS_PER_S)
            counts = sim.counts(time_s)
            bag.write_message(topics["raw"], stamp,
                              messages.image(store, counts, "mono16", stamp, frame_id))
            bag.write_message(topics["info"], stamp,
                              messages.camera_info(store, profile, stamp, frame_id))
            fpa_c = sim.fpa_temperature_c(time_s)
            bag.write_message(topics["status"], stamp, messages.thermal_status(
                store, stamp, frame_id, source="simulator", camera_profile=profile.name,
                fpa_temperature_c=fpa_c, frame_count=index + 1, frame_rate_hz=rate))
            if options.truth:
                truth = sim.truth(time_s)
                for name, array, encoding in (
                        ("temperature", truth.temperature_c, "32FC1"),
                        ("apparent_temperature", truth.apparent_temperature_c, "32FC1"),
                        ("emissivity", truth.emissivity, "32FC1"),
                        ("labels", truth.labels, "mono8")):
                    bag.write_message(f"/truth/{name}", stamp,
                                      messages.image(store, array, encoding, stamp, frame_id))
    return {"bag": str(options.out), "frames": options.frames, "rate_hz": rate,
            "profile": profile.name, "size": (profile.width, profile.height),
            "gsd_m": sim.gsd_m, "messages": dict(bag.counts)}
