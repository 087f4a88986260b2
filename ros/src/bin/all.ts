// Entry of the jepa_nodes executable: perception, planner, shield and memory in one process on the live ROS 2 graph.
import { runNodes } from './run';
import { buildMemory, buildPerception, buildPlanner, buildShield } from './stages';

await runNodes([buildShield, buildMemory, buildPerception, buildPlanner]);
