"""Vehicle: the thermal pipeline (driver, processor), the detector and the fusion node with an
RGB camera and a lidar, with config/vehicle_fusion.yaml.

    ros2 launch thermal_perception vehicle_fusion.launch.py namespace:=thermal \\
        rgb_image_topic:=/camera/image_raw rgb_info_topic:=/camera/camera_info \\
        lidar_topic:=/lidar/points

Without launch_ros (e.g. PyPI wheels), the same YAML runs with
``thermal-perception run config/vehicle_fusion.yaml``.
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
    parameters = [args["params_file"], {"use_sim_time": args["use_sim_time"]}]
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="thermal",
                              description="Namespace of the thermal camera's topics."),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config",
                                                         "vehicle_fusion.yaml"),
                              description="Parameters of the driver, processor, detector and "
                                          "fusion nodes."),
        DeclareLaunchArgument("camera_profile", default_value="boson640",
                              description="Camera profile (lepton35, boson640, vga1280)."),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (bag replay)."),
        DeclareLaunchArgument("rgb_image_topic", default_value="rgb/image_raw",
                              description="The vehicle's RGB image (bgr8, rgb8 or mono8)."),
        DeclareLaunchArgument("rgb_info_topic", default_value="rgb/camera_info",
                              description="CameraInfo of the RGB camera."),
        DeclareLaunchArgument("lidar_topic", default_value="lidar/points",
                              description="sensor_msgs/PointCloud2 of the lidar."),
        pipeline,
        Node(package="thermal_perception", executable="detector", name="detector",
             namespace=args["namespace"], parameters=parameters, output="screen"),
        Node(package="thermal_perception", executable="fusion", name="fusion",
             namespace=args["namespace"], parameters=parameters,
             remappings=[("rgb/image_raw", LaunchConfiguration("rgb_image_topic")),
                         ("rgb/camera_info", LaunchConfiguration("rgb_info_topic")),
                         ("lidar/points", LaunchConfiguration("lidar_topic"))],
             output="screen"),
    ])
