"""Launch jepa_runtime against a real arm (or mock hardware) through ros2_control.

Starts robot_state_publisher, the controller manager (ros2_control_node) with
the arm's hardware interface, spawners for joint_state_broadcaster and the
JointTrajectoryController, and the jepa_runtime nodes (perception, planner,
shield, memory). The shield is the only node that commands the controller.

  ros2 launch jepa_runtime robot.launch.py checkpoint:=/path/to/ckpt use_mock_hardware:=true
  ros2 launch jepa_runtime robot.launch.py checkpoint:=... description_file:=/path/arm.urdf.xacro \
      description_args:="robot_ip:=192.168.1.10" safety_file:=/path/arm_safety.yaml
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
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
            "description_file",
            default_value=PathJoinSubstitution([share, "urdf", "jepa_arm.urdf.xacro"]),
            description="Robot description: a xacro or URDF file (xacro passes plain URDF through).",
        ),
        DeclareLaunchArgument(
            "description_args",
            default_value="",
            description="Extra xacro arguments for the description, e.g. 'robot_ip:=192.168.1.10'.",
        ),
        DeclareLaunchArgument(
            "use_mock_hardware",
            default_value="false",
            description="Use mock_components/GenericSystem instead of the real hardware interface.",
        ),
        DeclareLaunchArgument(
            "controllers_file",
            default_value=PathJoinSubstitution([share, "config", "controllers.yaml"]),
            description="ros2_control controllers YAML.",
        ),
        DeclareLaunchArgument(
            "trajectory_controller",
            default_value="joint_trajectory_controller",
            description="Name of the JointTrajectoryController the shield commands.",
        ),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock."),
        DeclareLaunchArgument("start_jepa_nodes", default_value="true", description="Start perception, planner, shield and memory."),
    ]

    use_sim_time = LaunchConfiguration("use_sim_time")
    robot_description_xml = Command(
        [
            PathJoinSubstitution([FindExecutable(name="xacro")]),
            " ",
            LaunchConfiguration("description_file"),
            " use_mock_hardware:=",
            LaunchConfiguration("use_mock_hardware"),
            " sim_gazebo:=false",
            " controllers_file:=",
            LaunchConfiguration("controllers_file"),
            " ",
            LaunchConfiguration("description_args"),
        ]
    )
    description = {"robot_description": ParameterValue(robot_description_xml, value_type=str)}
    sim_time = {"use_sim_time": use_sim_time}

    robot_state_publisher = Node(
        package="robot_state_publisher",
        executable="robot_state_publisher",
        parameters=[description, sim_time],
        output="screen",
    )
    # Humble reads robot_description as a parameter; Jazzy takes it from the topic.
    control_node = Node(
        package="controller_manager",
        executable="ros2_control_node",
        parameters=[description, LaunchConfiguration("controllers_file"), sim_time],
        remappings=[("~/robot_description", "/robot_description")],
        output="screen",
    )
    spawners = [
        Node(
            package="controller_manager",
            executable="spawner",
            arguments=[name, "--controller-manager", "/controller_manager"],
            output="screen",
        )
        for name in ["joint_state_broadcaster", LaunchConfiguration("trajectory_controller")]
    ]

    jepa_nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "jepa_nodes.launch.py"])),
        # checkpoint, params_file, safety_file, command_interface: declared by jepa_nodes.launch.py,
        # and given on this launch file's command line they reach it unchanged.
        launch_arguments={
            "robot_description": robot_description_xml,
            "trajectory_controller": LaunchConfiguration("trajectory_controller"),
            "use_sim_time": use_sim_time,
        }.items(),
        condition=IfCondition(LaunchConfiguration("start_jepa_nodes")),
    )
    return LaunchDescription(args + [robot_state_publisher, control_node] + spawners + [jepa_nodes])
