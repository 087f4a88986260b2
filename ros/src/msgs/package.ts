/**
 * This ROS 2 package's own interfaces (ros/msg, ros/action) and where the
 * definitions of the standard interfaces come from when no live ROS 2 graph
 * generates them: the share/ folders of a sourced ROS 2 installation
 * (AMENT_PREFIX_PATH), or folders given explicitly (tests use the real
 * definitions in ../shared/data/ros2_msgs).
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageDefinitionError, MessageRegistry } from './registry';

export const PACKAGE_NAME = 'jepa_runtime';

/** The ros/ folder (package root) this file belongs to, in the source tree or the installed share folder. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Adds ros/msg/*.msg and ros/action/*.action under the jepa_runtime package name. */
export function addPackageInterfaces(registry: MessageRegistry, root = PACKAGE_ROOT): void {
  for (const kind of ['msg', 'action'] as const) {
    const dir = join(root, kind);
    for (const file of readdirSync(dir)) {
      const m = /^(\w+)\.(msg|action)$/.exec(file);
      if (m && m[2] === kind) registry.addFile(join(dir, file), `${PACKAGE_NAME}/${kind}/${m[1]}`);
    }
  }
}

/** share/ folders of every prefix on AMENT_PREFIX_PATH that exist. */
export function amentShareFolders(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.AMENT_PREFIX_PATH ?? '')
    .split(':')
    .filter(Boolean)
    .map((p) => join(p, 'share'))
    .filter((p) => existsSync(p));
}

/** Folders holding `<pkg>/msg` trees under a share folder, limited to the packages named. */
function packageFolders(share: string, packages: readonly string[]): string[] {
  const present = new Set(readdirSync(share));
  return packages.filter((p) => present.has(p)).map((p) => join(share, p));
}

/** Standard packages whose interfaces the nodes use. */
export const REQUIRED_PACKAGES = [
  'builtin_interfaces',
  'std_msgs',
  'geometry_msgs',
  'sensor_msgs',
  'trajectory_msgs',
  'control_msgs',
  'action_msgs',
  'unique_identifier_msgs',
  'rosgraph_msgs',
] as const;

/** Types the node graph cannot run without. */
const REQUIRED_TYPES = [
  'sensor_msgs/msg/Image',
  'sensor_msgs/msg/JointState',
  'trajectory_msgs/msg/JointTrajectory',
  'std_msgs/msg/Float32MultiArray',
  'std_msgs/msg/String',
  'geometry_msgs/msg/PoseStamped',
  'action_msgs/msg/GoalStatusArray',
  'action_msgs/srv/CancelGoal_Request',
];

/**
 * A registry over interface folders plus this package's own. `folders` are
 * package trees as MessageRegistry.addTree takes them; when empty, the
 * required packages are looked up in the AMENT_PREFIX_PATH share folders.
 */
export function loadInterfaces(folders: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): MessageRegistry {
  const registry = new MessageRegistry();
  if (folders.length > 0) {
    for (const f of folders) registry.addTree(f);
  } else {
    const shares = amentShareFolders(env);
    if (shares.length === 0) {
      throw new MessageDefinitionError(
        'no ROS 2 interface definitions: source a ROS 2 installation (AMENT_PREFIX_PATH) or pass the folders holding <pkg>/msg trees (e.g. --interfaces /opt/ros/jazzy/share)',
      );
    }
    for (const share of shares) for (const pkg of packageFolders(share, REQUIRED_PACKAGES)) registry.addTree(pkg);
  }
  addPackageInterfaces(registry);
  const missing = REQUIRED_TYPES.filter((t) => !registry.has(t));
  if (missing.length > 0) {
    throw new MessageDefinitionError(`the interface folders lack ${missing.join(', ')}; add the folders of their packages (${REQUIRED_PACKAGES.join(', ')})`);
  }
  return registry;
}
