// The events an initiator session reports that are not the answer to a command: Async Messages, unit
// attentions, connection changes. They reach users through a util/event-channel EventChannel.

import type { ParsedSense } from '../scsi/sense.js';

/** Something the session reports that is not the answer to a command. */
export type SessionEvent =
  | { type: 'unit-attention'; lun: number | undefined; senseKey: number; asc: number; ascq: number; ascName: string; sense: Buffer }
  | { type: 'scsi-async-event'; lun: number | undefined; sense: ParsedSense | undefined; raw: Buffer }
  | { type: 'logout-requested'; time2Wait: number; time2Retain: number; within: number }
  | { type: 'connection-drop-requested'; time2Wait: number; time2Retain: number; cid: number }
  | { type: 'session-drop-requested'; time2Wait: number; time2Retain: number }
  | { type: 'renegotiate-requested'; within: number }
  | { type: 'vendor-async-event'; code: number; data: Buffer }
  | { type: 'connection-lost'; reason: string; error: Error }
  | { type: 'reconnected'; attempt: number; downMs: number }
  | { type: 'session-lost'; error: Error }
  | { type: 'protocol-error'; error: Error }
  /** The session is closed (by close(), or a failed connect): the last event, then iterators end. */
  | { type: 'closed'; error: Error };

/** The names of {@link SessionEvent} types. */
export type SessionEventType = SessionEvent['type'];

/** Every {@link SessionEventType}, for checking names at registration. */
export const SESSION_EVENT_TYPES: ReadonlySet<string> = new Set<SessionEventType>([
  'unit-attention',
  'scsi-async-event',
  'logout-requested',
  'connection-drop-requested',
  'session-drop-requested',
  'renegotiate-requested',
  'vendor-async-event',
  'connection-lost',
  'reconnected',
  'session-lost',
  'protocol-error',
  'closed',
]);
