"""Driver + processor with the parameters of config/thermal_pipeline.yaml.

    ros2 launch thermal_perception thermal_pipeline.launch.py namespace:=thermal

Without launch_ros (e.g. PyPI wheels), the same YAML runs with
``thermal-perception run config/thermal_pipeline.yaml``.

``transport:=shm`` (the default, or ``THERMAL_PERCEPTION_TRANSPORT``) gives the nodes Fast DDS
shared memory with segments that hold whole frames (config/fastdds_shm.xml, plus UDPv4 for
other hosts); ``transport:=default`` keeps Fast DDS's builtin transports (and any
FASTDDS_DEFAULT_PROFILES_FILE of your own), ``transport:=udp`` uses UDPv4 only.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PythonExpression
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("thermal_perception")
    default_params = os.path.join(share, "config", "thermal_pipeline.yaml")
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    camera_profile = LaunchConfiguration("camera_profile")
    transport = LaunchConfiguration("transport")
    common = [params_file, {"use_sim_time": use_sim_time, "camera_profile": camera_profile}]
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="thermal",
                              description="Namespace of the camera's topics."),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="Parameters YAML of the driver and processor."),
        DeclareLaunchArgument("camera_profile", default_value="boson640",
                              description="Camera profile (lepton35, boson640, vga1280, "
                                          "infiray_p2pro with source v4l2)."),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="Use /clock (bag replay)."),
        DeclareLaunchArgument("transport", default_value=EnvironmentVariable(
                                  "THERMAL_PERCEPTION_TRANSPORT", default_value="shm"),
                              description="Fast DDS transport: shm (large shared-memory "
                                          "segments, config/fastdds_shm.xml), default or udp."),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE",
                               os.path.join(share, "config", "fastdds_shm.xml"),
                               condition=IfCondition(PythonExpression(
                                   ["'", transport, "' == 'shm'"]))),
        SetEnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4",
                               condition=IfCondition(PythonExpression(
                                   ["'", transport, "' == 'udp'"]))),
        Node(package="thermal_perception", executable="driver", name="driver",
             namespace=namespace, parameters=common, output="screen"),
        Node(package="thermal_perception", executable="processor", name="processor",
             namespace=namespace, parameters=common, output="screen"),
    ])
