/**
 * Registry of the scenes this project writes (MJCF generated from TS), by name.
 */
import { z } from 'zod';
import { armSceneXml, ARM_CAMERAS } from './arm';
import { pushTSceneXml, PUSHT_CAMERAS } from './push-t';
import { twoRoomsSceneXml, TWO_ROOMS_CAMERAS } from './two-rooms';

export const SceneName = z.enum(['arm', 'push-t', 'two-rooms']);
export type SceneName = z.infer<typeof SceneName>;

export const SCENES: Record<SceneName, { xml: () => string; cameras: readonly string[] }> = {
  arm: { xml: armSceneXml, cameras: ARM_CAMERAS },
  'push-t': { xml: pushTSceneXml, cameras: PUSHT_CAMERAS },
  'two-rooms': { xml: twoRoomsSceneXml, cameras: TWO_ROOMS_CAMERAS },
};
