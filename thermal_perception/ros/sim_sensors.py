"""ROS publishers of the simulated UAV's other sensors (driver option ``simulate_fusion_sensors``).

Next to the thermal frames, the driver then publishes, stamped on the same clock:
``rgb/image_raw`` (bgr8) and ``rgb/camera_info``, ``lidar/points`` (PointCloud2 x, y, z,
intensity), ``gps/fix`` (NavSatFix), ``imu/data`` (Imu, orientation of base_link in ENU) and
``altitude`` (std_msgs/Float64, m above ground, for the detector's ground sample distance).
The geometry is :class:`thermal_perception.sim.sensors.SimulatedRig`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, Imu, NavSatFix, NavSatStatus, PointCloud2
from std_msgs.msg import Float64

from thermal_perception.core.fusion.geometry import CameraModel
from thermal_perception.io.image_encoding import array_to_image
from thermal_perception.ros.pointcloud2 import array_to_cloud
from thermal_perception.ros.qos import reliable_qos, sensor_qos
from thermal_perception.sim.sensors import SimulatedRig
from thermal_perception.sim.simulator import ThermalSimulator

LIDAR_DTYPE = np.dtype([("x", np.float32), ("y", np.float32), ("z", np.float32),
                        ("intensity", np.float32)])
GPS_RATE_HZ = 10.0
GPS_SIGMA_M = 1.5  # reported position covariance (the simulated fix itself is exact)


def camera_info_of(model: CameraModel, frame_id: str) -> CameraInfo:
    info = CameraInfo()
    info.header.frame_id = frame_id
    info.width, info.height = model.width, model.height
    info.distortion_model = model.distortion_model
    d = list(model.d) + [0.0] * max(0, 5 - len(model.d))
    info.d = [float(v) for v in d]
    info.k = [float(v) for v in model.k.reshape(-1)]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    k = model.k
    info.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


class SimSensorPublisher:
    """Publishes the simulated rig's RGB, lidar, GPS, IMU and altitude for a driver node."""

    def __init__(self, node: Any, simulator: ThermalSimulator, values: dict[str, Any]) -> None:
        self.node = node
        self.rig = SimulatedRig(simulator, seed=values["seed"])
        qos = sensor_qos(values["image_reliability"])
        self.rgb_pub = node.create_publisher(Image, "rgb/image_raw", qos)
        self.rgb_info_pub = node.create_publisher(CameraInfo, "rgb/camera_info", reliable_qos())
        self.lidar_pub = node.create_publisher(PointCloud2, "lidar/points", qos)
        self.fix_pub = node.create_publisher(NavSatFix, "gps/fix", qos)
        self.imu_pub = node.create_publisher(Imu, "imu/data", qos)
        self.altitude_pub = node.create_publisher(Float64, "altitude", reliable_qos())
        self.rgb_info = camera_info_of(self.rig.rgb_camera, "rgb_camera_optical_frame")
        self.rgb_msg, self.cloud_msg = Image(), PointCloud2()
        self.rates = {"rgb": values["rgb_rate_hz"], "lidar": values["lidar_rate_hz"],
                      "gps": GPS_RATE_HZ}
        self.next_s = {name: 0.0 for name in self.rates}
        self.published = {name: 0 for name in ("rgb", "lidar", "gps", "imu")}

    def _due(self, name: str, time_s: float) -> bool:
        rate = self.rates[name]
        if rate <= 0 or time_s + 1e-6 < self.next_s[name]:
            return False
        self.next_s[name] = max(self.next_s[name] + 1.0 / rate, time_s)
        return True

    def publish(self, time_s: float, stamp: Any) -> None:
        """Publish what is due at simulation time ``time_s`` with header stamp ``stamp``."""
        rig = self.rig
        if self._due("rgb", time_s):
            image, _ = rig.rgb_image(time_s)
            array_to_image(image, "bgr8", frame_id="rgb_camera_optical_frame", stamp=stamp,
                           msg=self.rgb_msg)
            self.rgb_info.header.stamp = stamp
            self.rgb_pub.publish(self.rgb_msg)
            self.rgb_info_pub.publish(self.rgb_info)
            self.published["rgb"] += 1
        if self._due("lidar", time_s):
            scan = rig.lidar_scan(time_s)
            cloud = np.empty(len(scan.points), LIDAR_DTYPE)
            cloud["x"], cloud["y"], cloud["z"] = scan.points.T
            cloud["intensity"] = scan.intensity
            self.cloud_msg.header.stamp = stamp
            self.cloud_msg.header.frame_id = "lidar_link"
            array_to_cloud(cloud, self.cloud_msg.header, msg=self.cloud_msg)
            self.lidar_pub.publish(self.cloud_msg)
            self.published["lidar"] += 1
        if self._due("gps", time_s):
            lat, lon, alt = rig.geodetic(time_s)
            fix = NavSatFix(latitude=lat, longitude=lon, altitude=alt)
            fix.header.stamp, fix.header.frame_id = stamp, "gps_link"
            fix.status.status = NavSatStatus.STATUS_FIX
            fix.status.service = NavSatStatus.SERVICE_GPS
            fix.position_covariance = [GPS_SIGMA_M ** 2, 0.0, 0.0, 0.0, GPS_SIGMA_M ** 2, 0.0,
                                       0.0, 0.0, (2 * GPS_SIGMA_M) ** 2]
            fix.position_covariance_type = NavSatFix.COVARIANCE_TYPE_DIAGONAL_KNOWN
            self.fix_pub.publish(fix)
            self.altitude_pub.publish(Float64(data=float(rig.simulator.altitude_m)))
            self.published["gps"] += 1
        imu = Imu()
        imu.header.stamp, imu.header.frame_id = stamp, "base_link"
        q = rig.orientation_xyzw(time_s)
        imu.orientation.x, imu.orientation.y, imu.orientation.z, imu.orientation.w = (
            float(v) for v in q)
        imu.orientation_covariance = [1e-4, 0.0, 0.0, 0.0, 1e-4, 0.0, 0.0, 0.0, 1e-3]
        imu.linear_acceleration.z = 9.80665  # level flight at constant speed
        self.imu_pub.publish(imu)
        self.published["imu"] += 1
