// The identity of a LUN across gateways: every gateway that opens the same backing computes the same
// lunId, and from it the same NAA designator and unit serial number, with no coordination.

import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { deriveNaa, deriveSerial } from '../scsi/inquiry.js';
import { ClusterConfigError } from './errors.js';

/** What identifies a shared backing: its kind and where it is. */
export interface BackingRef {
  kind: string;
  /** A file or block device path (kind 'file'). */
  path?: string;
  /** The LUN spec text, for the other kinds (`nbd://host:port/export`, `rbd:pool/image`): its part before options. */
  spec: string;
}

/**
 * The canonical name of a backing: the real path of a file (symlinks and `..` resolved, so two
 * gateways naming the same file differently agree), the URL of the others. A memory LUN cannot be
 * shared: each gateway would hold its own.
 */
export async function canonicalBacking(ref: BackingRef, setting: string): Promise<string> {
  if (ref.kind === 'memory') throw new ClusterConfigError(setting, 'a memory LUN cannot be shared between gateways: give a shared file, NBD or RBD backing');
  if (ref.kind === 'file') {
    try {
      return `file:${await realpath(ref.path!)}`;
    } catch (e) {
      throw new ClusterConfigError(setting, `cannot resolve ${ref.path}: ${(e as Error).message}`);
    }
  }
  return ref.spec.split(',')[0]!.trim();
}

/** lunId = SHA-256 of the canonical backing, as 64 hex digits. */
export function lunIdOf(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

/** The NAA designator (32 hex digits) and unit serial number every gateway reports for `lunId`. */
export function sharedIdentity(lunId: string): { naa: string; serial: string } {
  return { naa: deriveNaa(`lun:${lunId}`, 0).toString('hex'), serial: deriveSerial(`lun:${lunId}`, 0) };
}
