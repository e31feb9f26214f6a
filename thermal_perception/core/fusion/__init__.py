"""Fusion: thermal with the robot's other sensors, in time and space.

- ``geometry``: rigid transforms and calibrated cameras (REP 103/105 frames);
- ``sync``: approximate-time synchronisation and interpolation of streams;
- ``registration``: thermal <-> RGB registration and overlays;
- ``pointcloud``: temperature for lidar points, depth for detections;
- ``geolocation``, ``terrain``, ``geolocation_log``: pixels -> ground -> WGS84, on flat ground or
  a height grid, with uncertainty, and the mission log (GeoJSON, KML);
- ``lens_targets``, ``lens_calibration``, ``lens_files``, ``lens_synthetic``: geometric
  calibration of thermal cameras (targets, intrinsics, extrinsics, camera_info files, synthetic
  views).
"""

from thermal_perception.core.fusion.geolocation import GeoOrigin, geolocate_pixels
from thermal_perception.core.fusion.geometry import CameraModel, RigidTransform
from thermal_perception.core.fusion.pointcloud import LidarProjector
from thermal_perception.core.fusion.registration import Registration
from thermal_perception.core.fusion.sync import ApproximateTimeSync

__all__ = ["ApproximateTimeSync", "CameraModel", "GeoOrigin", "LidarProjector", "Registration",
           "RigidTransform", "geolocate_pixels"]
