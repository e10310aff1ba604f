// What the target reports besides the answers to commands, as SessionEvents: Async Messages (RFC 7143
// §11.9) and unit attentions, whether they come in an Async Message or as a command's CHECK CONDITION.

import { AsyncEvent } from '../../pdu/constants.js';
import { lunFromField } from '../../pdu/lun.js';
import type { AsyncMessagePdu } from '../../pdu/types.js';
import { SENSE_KEY, ascName } from '../../scsi/constants.js';
import { parseSense } from '../../scsi/sense.js';
import type { SessionEvent } from '../events.js';

/** The event a unit attention on `lun` reports (`sense` is copied: it may lie in a receive arena). */
export function unitAttentionEvent(lun: number | undefined, senseKey: number, asc: number, ascq: number, sense: Buffer): SessionEvent {
  return { type: 'unit-attention', lun, senseKey, asc, ascq, ascName: ascName(asc, ascq), sense: Buffer.from(sense) };
}

/** The event an Async Message reports (RFC 7143 §11.9.1, AsyncEvent codes). */
export function asyncMessageEvent(pdu: AsyncMessagePdu): SessionEvent {
  switch (pdu.asyncEvent) {
    case AsyncEvent.ScsiAsyncEvent: {
      const lun = lunFromField(pdu.lun);
      let sense;
      try {
        sense = pdu.sense.length > 0 ? parseSense(pdu.sense) : undefined;
      } catch {
        sense = undefined;
      }
      if (sense !== undefined && sense.senseKey === SENSE_KEY.UNIT_ATTENTION) return unitAttentionEvent(lun, sense.senseKey, sense.asc, sense.ascq, pdu.sense);
      return { type: 'scsi-async-event', lun, sense, raw: Buffer.from(pdu.sense) };
    }
    case AsyncEvent.LogoutRequest:
      // RFC 7143 §11.9.1: log out within Parameter3 seconds.
      return { type: 'logout-requested', within: pdu.parameter3 * 1000, time2Wait: 0, time2Retain: 0 };
    case AsyncEvent.ConnectionDrop:
      return { type: 'connection-drop-requested', cid: pdu.parameter1, time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 };
    case AsyncEvent.SessionDrop:
      return { type: 'session-drop-requested', time2Wait: pdu.parameter2, time2Retain: pdu.parameter3 };
    case AsyncEvent.Renegotiate:
      return { type: 'renegotiate-requested', within: pdu.parameter3 * 1000 };
    default:
      return { type: 'vendor-async-event', code: pdu.asyncVCode, data: Buffer.from(pdu.eventData) };
  }
}
