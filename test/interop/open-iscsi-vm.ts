// The project's open-iscsi VM harness (tools/open-iscsi-vm/run.sh): where it is, and whether this host
// can boot its VM. The VM tests run wherever it can (CI installs its packages in .ci/run) and say why
// they are skipped where it cannot.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { interopDisabled } from './peers.js';

/** run.sh of the harness; OPEN_ISCSI_VM points at another copy. */
export const VM_HARNESS = process.env.OPEN_ISCSI_VM ?? fileURLToPath(new URL('../../tools/open-iscsi-vm/run.sh', import.meta.url));

/**
 * Whether the VM can run here, in single-path or multipath mode (`run.sh --check`, which boots
 * nothing): x86_64, the packages installed or installable (root). Prints why not, once.
 */
export function vmCanRun(mode: 'single' | 'multipath'): boolean {
  if (interopDisabled) return false;
  const args = mode === 'multipath' ? ['--check', '--portal2', '1'] : ['--check'];
  const r = spawnSync(VM_HARNESS, args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return true;
  const why = (r.stderr || r.error?.message || `exit ${String(r.status)}`).trim().split('\n').pop();
  console.warn(`open-iscsi VM tests (${mode}) skipped: ${why}`);
  return false;
}

/** The `OPEN-ISCSI-VM RESULT:` line of a harness run, or '' when there is none. */
export function resultLine(stdout: string): string {
  return stdout.split('\n').find((l) => l.startsWith('OPEN-ISCSI-VM RESULT:')) ?? '';
}
