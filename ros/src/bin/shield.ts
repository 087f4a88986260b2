// Entry of the shield_node executable: one shield node on the live ROS 2 graph.
import { runNodes } from './run';
import { buildShield } from './stages';

await runNodes([buildShield]);
