// The summary of one session that logs, events, channels and the admin socket show.

/** A summary of one session, for logs and the admin socket. */
export interface SessionInfo {
  id: number;
  tsih: number;
  type: 'Normal' | 'Discovery';
  initiatorName: string;
  isid: string;
  targetName: string | undefined;
  peer: string;
  commands: number;
  readBytes: number;
  writeBytes: number;
  outstanding: number;
  createdAt: string;
}
