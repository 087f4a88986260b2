"""Launch jepa_arm in Gazebo (gz sim, Harmonic on Jazzy) with jepa_runtime.

Starts gz sim with worlds/jepa_table.sdf, robot_state_publisher with the
description built for gz_ros2_control, spawns the arm, bridges /clock and the
camera image (ros_gz_bridge), spawns joint_state_broadcaster and the
JointTrajectoryController once the arm exists, and starts the jepa_runtime
nodes, everything on simulated time.

  ros2 launch jepa_runtime gazebo.launch.py checkpoint:=/path/to/ckpt
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, RegisterEventHandler
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command, FindExecutable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "jepa_runtime"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    args = [
        DeclareLaunchArgument(
            "world",
            default_value=PathJoinSubstitution([share, "worlds", "jepa_table.sdf"]),
            description="Gazebo world file.",
        ),
        DeclareLaunchArgument(
            "description_file",
            default_value=PathJoinSubstitution([share, "urdf", "jepa_arm.urdf.xacro"]),
            description="Robot description xacro with a gz_ros2_control system for sim_gazebo:=true.",
        ),
        DeclareLaunchArgument(
            "controllers_file",
            default_value=PathJoinSubstitution([share, "config", "controllers.yaml"]),
            description="ros2_control controllers YAML (loaded by the Gazebo plugin).",
        ),
        DeclareLaunchArgument("camera_topic", default_value="/camera/image_raw", description="Camera image topic (gz and ROS side)."),
        DeclareLaunchArgument("start_jepa_nodes", default_value="true", description="Start perception, planner, shield and memory."),
    ]

    sim_time = {"use_sim_time": True}
    robot_description_xml = Command(
        [
            PathJoinSubstitution([FindExecutable(name="xacro")]),
            " ",
            LaunchConfiguration("description_file"),
            " sim_gazebo:=true use_mock_hardware:=false",
            " controllers_file:=",
            LaunchConfiguration("controllers_file"),
        ]
    )
    description = {"robot_description": ParameterValue(robot_description_xml, value_type=str)}

    gz_sim = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare("ros_gz_sim"), "launch", "gz_sim.launch.py"])),
        launch_arguments={"gz_args": ["-r -v 3 ", LaunchConfiguration("world")]}.items(),
    )
    robot_state_publisher = Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        parameters=[description, sim_time],
        output="screen",
    )
    spawn = Node(
        package="ros_gz_sim",
        executable="create",
        arguments=["-topic", "robot_description", "-name", "jepa_arm", "-allow_renaming", "true"],
        output="screen",
    )
    camera = LaunchConfiguration("camera_topic")
    bridge = Node(
        package="ros_gz_bridge",
        executable="parameter_bridge",
        arguments=[
            "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
            [camera, "@sensor_msgs/msg/Image[gz.msgs.Image"],
        ],
        parameters=[sim_time],
        output="screen",
    )
    spawner_jsb = Node(
        package="controller_manager",
        executable="spawner",
        arguments=["joint_state_broadcaster", "--controller-manager", "/controller_manager"],
        parameters=[sim_time],
        output="screen",
    )
    spawner_jtc = Node(
        package="controller_manager",
        executable="spawner",
        arguments=["joint_trajectory_controller", "--controller-manager", "/controller_manager"],
        parameters=[sim_time],
        output="screen",
    )
    # Controllers exist only once the arm (and with it the gz_ros2_control plugin) is spawned.
    after_spawn = RegisterEventHandler(OnProcessExit(target_action=spawn, on_exit=[spawner_jsb, spawner_jtc]))

    jepa_nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "jepa_nodes.launch.py"])),
        # checkpoint, params_file, safety_file: declared by jepa_nodes.launch.py (pass them on this command line).
        launch_arguments={"robot_description": robot_description_xml, "camera_topic": camera, "use_sim_time": "true"}.items(),
        condition=IfCondition(LaunchConfiguration("start_jepa_nodes")),
    )
    return LaunchDescription(args + [gz_sim, robot_state_publisher, spawn, bridge, after_spawn, jepa_nodes])
