// Entry of the planner_node executable: one planner node on the live ROS 2 graph.
import { runNodes } from './run';
import { buildPlanner } from './stages';

await runNodes([buildPlanner]);
