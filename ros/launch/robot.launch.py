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
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
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
        DeclareLaunchArgument("checkpoint", description="World-model checkpoint folder (config.json + model.safetensors)."),
        DeclareLaunchArgument("command_interface", default_value="topic", description="Shield output: 'topic' or 'action'."),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Follow /clock."),
        DeclareLaunchArgument("start_jepa_nodes", default_value="true", description="Start perception, planner, shield and memory."),
    ]

    use_sim_time = LaunchConfiguration("use_sim_time")
    robot_description = ParameterValue(
        Command(
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
        ),
        value_type=str,
    )
    description = {"robot_description": robot_description}
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

    jepa = IfCondition(LaunchConfiguration("start_jepa_nodes"))
    params = LaunchConfiguration("params_file")
    checkpoint = {"checkpoint": LaunchConfiguration("checkpoint")}
    nodes = [
        Node(package=PACKAGE, executable="perception_node", name="perception", parameters=[params, checkpoint, sim_time], output="screen", condition=jepa),
        Node(
            package=PACKAGE,
            executable="planner_node",
            name="planner",
            parameters=[params, checkpoint, description, sim_time],
            output="screen",
            condition=jepa,
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
                },
            ],
            output="screen",
            condition=jepa,
        ),
        Node(package=PACKAGE, executable="memory_node", name="memory", parameters=[params, sim_time], output="screen", condition=jepa),
    ]
    return LaunchDescription(args + [robot_state_publisher, control_node] + spawners + nodes)
