// Entry of the memory_node executable: one memory node on the live ROS 2 graph.
import { runNodes } from './run';
import { buildMemory } from './stages';

await runNodes([buildMemory]);
