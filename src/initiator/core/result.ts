// What a command ends with, as its caller receives it. A module of its own because the task slots
// (task.ts), the Data-In half (data-in.ts) and the public API all name it and none of them owns it.

/** What a command ended with. */
export interface CommandResult {
  /** SAM status (GOOD, CONDITION MET; other statuses reject with ScsiError). */
  status: number;
  /** The Data-In received, as long as what arrived. Empty for commands without Data-In. */
  data: Buffer;
  /** Sense data that came with the status (GOOD may carry some, e.g. RECOVERED ERROR), or empty. */
  sense: Buffer;
  /** RFC 7143 §11.4.5.1: the target had more data than the expected length (O bit). */
  overflow: boolean;
  /** The target moved less than the expected length (U bit). */
  underflow: boolean;
  /** Bytes not transferred (underflow) or not transferable (overflow). */
  residualCount: number;
}
