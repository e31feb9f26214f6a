"""UAV search and rescue: the thermal pipeline (driver, processor), the detector and the fusion
node (RGB overlay, temperature point cloud, geolocated detections), with config/uav_sar.yaml.

    ros2 launch thermal_perception uav_sar.launch.py namespace:=thermal

Without launch_ros (e.g. PyPI wheels), the same YAML runs with
``thermal-perception run config/uav_sar.yaml``.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("thermal_perception")
    names = ("namespace", "params_file", "camera_profile", "use_sim_time")
    args = {name: LaunchConfiguration(name) for name in names}
    pipeline = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            os.path.join(share, "launch", "thermal_pipeline.launch.py")),
        launch_arguments={name: args[name] for name in names}.items())
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="thermal",
                              description="Namespace of the camera's topics."),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "uav_sar.yaml"),
                              description="Parameters of the driver, processor and detector."),
        DeclareLaunchArgument("camera_profile", default_value="boson640",
                              description="Camera profile (lepton35, boson640, vga1280)."),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (bag replay)."),
        DeclareLaunchArgument("gps_topic", default_value="gps/fix",
                              description="sensor_msgs/NavSatFix of the UAV."),
        DeclareLaunchArgument("imu_topic", default_value="imu/data",
                              description="sensor_msgs/Imu with the UAV's attitude (ENU)."),
        DeclareLaunchArgument("relative_image_topic", default_value="image_relative",
                              description="Grey-level video (mono8/mono16) of a camera "
                                          "without temperatures, for the detector."),
        pipeline,
        Node(package="thermal_perception", executable="detector", name="detector",
             namespace=args["namespace"],
             parameters=[args["params_file"], {"use_sim_time": args["use_sim_time"]}],
             remappings=[("image_relative", LaunchConfiguration("relative_image_topic"))],
             output="screen"),
        Node(package="thermal_perception", executable="fusion", name="fusion",
             namespace=args["namespace"],
             parameters=[args["params_file"], {"use_sim_time": args["use_sim_time"]}],
             remappings=[("gps/fix", LaunchConfiguration("gps_topic")),
                         ("imu/data", LaunchConfiguration("imu_topic"))],
             output="screen"),
    ])
