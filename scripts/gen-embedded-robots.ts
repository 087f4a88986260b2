// Writes the embedded simulator's robot descriptions to config/robots/ (see src/runtime/embedded-robots.ts).
import { writeFileSync } from 'node:fs';
import { simArmUrdf, twoRoomsUrdf } from '../src/runtime/embedded-robots';

writeFileSync('config/robots/sim-arm.urdf', simArmUrdf());
writeFileSync('config/robots/two-rooms.urdf', twoRoomsUrdf());
console.log('wrote config/robots/sim-arm.urdf and config/robots/two-rooms.urdf');
