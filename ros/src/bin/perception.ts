// Entry of the perception_node executable: one perception node on the live ROS 2 graph.
import { runNodes } from './run';
import { buildPerception } from './stages';

await runNodes([buildPerception]);
