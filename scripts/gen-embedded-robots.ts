// Writes the embedded simulator's robot descriptions to config/robots/ (see src/runtime/embedded-robots.ts).
import { writeFileSync } from 'node:fs';
import { pushTUrdf, simArmUrdf, twoRoomsUrdf } from '../src/runtime/embedded-robots';

writeFileSync('config/robots/sim-arm.urdf', simArmUrdf());
writeFileSync('config/robots/two-rooms.urdf', twoRoomsUrdf());
writeFileSync('config/robots/push-t.urdf', pushTUrdf());
console.log('wrote config/robots/sim-arm.urdf, config/robots/two-rooms.urdf and config/robots/push-t.urdf');
