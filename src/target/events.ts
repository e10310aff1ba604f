// What the target server reports to its listeners: sessions up and down, LUN changes, task management,
// backend failures, and its own stopping; with the session summary the admin socket lists too.

import type { SessionInfo } from './session-info.js';
import type { TargetNodeEvent } from './target-node.js';

export type { SessionInfo } from './session-info.js';

/** What the server reports: session up/down, LUN changes, task management, backend failures. */
export type TargetEvent =
  | TargetNodeEvent
  | { type: 'session-up'; session: SessionInfo }
  | { type: 'session-down'; session: SessionInfo; reason: string; logout: boolean }
  | { type: 'stopping' }
  | { type: 'stopped'; clean: boolean };

/** The names of {@link TargetEvent} types. */
export type TargetEventType = TargetEvent['type'];

/** Every {@link TargetEventType}: a listener for any other name is refused (a misspelt event never fires). */
export const TARGET_EVENT_TYPES: ReadonlySet<string> = new Set<TargetEventType>([
  'lun-added',
  'lun-removing',
  'lun-removed',
  'lun-resized',
  'task-management',
  'backend-error',
  'session-up',
  'session-down',
  'stopping',
  'stopped',
]);
