"""The four jepa_runtime nodes (perception, planner, shield, memory).

Included by robot.launch.py and gazebo.launch.py, which build the robot
description and pass it in; can also be launched on its own next to an
existing ros2_control setup:

  ros2 launch jepa_runtime jepa_nodes.launch.py checkpoint:=/path/to/ckpt \\
      robot_description:="$(xacro my_arm.urdf.xacro)"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "jepa_runtime"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    args = [
        DeclareLaunchArgument("robot_description", description="URDF of the arm (the shield compiles its guardrails from it)."),
        DeclareLaunchArgument("checkpoint", description="World-model checkpoint folder (config.json + model.safetensors)."),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "jepa_runtime.yaml"]),
            description="Parameters of the jepa_runtime nodes.",
        ),
        DeclareLaunchArgument(
            "safety_file",
            default_value=PathJoinSubstitution([share, "config", "safety", "jepa_arm.yaml"]),
            description="Guardrails of the shield (src/safety schema).",
        ),
        DeclareLaunchArgument("command_interface", default_value="topic", description="Shield output: 'topic' or 'action'."),
        DeclareLaunchArgument(
            "trajectory_controller",
            default_value="joint_trajectory_controller",
            description="Name of the JointTrajectoryController the shield commands.",
        ),
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw", description="Camera image topic."),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock."),
    ]
    params = LaunchConfiguration("params_file")
    checkpoint = {"checkpoint": LaunchConfiguration("checkpoint")}
    description = {"robot_description": ParameterValue(LaunchConfiguration("robot_description"), value_type=str)}
    sim_time = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    camera = LaunchConfiguration("camera_topic")
    nodes = [
        Node(
            package=PACKAGE,
            executable="perception_node",
            name="perception",
            parameters=[params, checkpoint, sim_time, {"image_topic": camera}],
            output="screen",
        ),
        Node(
            package=PACKAGE,
            executable="planner_node",
            name="planner",
            parameters=[params, checkpoint, description, sim_time],
            output="screen",
        ),
        Node(
            package=PACKAGE,
            executable="shield_node",
            name="shield",
            parameters=[
                params,
                description,
                sim_time,
                {
                    "safety_file": LaunchConfiguration("safety_file"),
                    "command_interface": LaunchConfiguration("command_interface"),
                    "controller_name": LaunchConfiguration("trajectory_controller"),
                    "camera_topic": camera,
                },
            ],
            output="screen",
        ),
        Node(package=PACKAGE, executable="memory_node", name="memory", parameters=[params, sim_time], output="screen"),
    ]
    return LaunchDescription(args + nodes)
