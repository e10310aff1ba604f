// Path selection (selector.ts): by ALUA state first, PREF among equals, round-robin among the best.
import { describe, expect, test } from 'vitest';
import { PathSelector, pathRank, type SelectablePath } from '../../../src/initiator/multipath/selector.js';
import { ALUA_STATE } from '../../../src/scsi/cdb/alua.js';

const path = (aluaState: number, pref = false, usable = true): SelectablePath => ({ aluaState, pref, usable });
const pick = (sel: PathSelector, paths: SelectablePath[], n: number, avoid: SelectablePath | null = null) =>
  Array.from({ length: n }, () => {
    const p = sel.select(paths, avoid);
    return p === null ? -1 : paths.indexOf(p);
  });

describe('PathSelector', () => {
  test('round-robins among Active/Optimized paths and leaves the others alone', () => {
    const paths = [path(ALUA_STATE.ACTIVE_OPTIMIZED), path(ALUA_STATE.ACTIVE_NON_OPTIMIZED), path(ALUA_STATE.ACTIVE_OPTIMIZED)];
    expect(pick(new PathSelector(), paths, 4)).toEqual([0, 2, 0, 2]);
  });

  test('takes Active/Non-Optimized only when no Active/Optimized path is usable', () => {
    const paths = [path(ALUA_STATE.ACTIVE_OPTIMIZED, false, false), path(ALUA_STATE.ACTIVE_NON_OPTIMIZED), path(ALUA_STATE.STANDBY)];
    expect(pick(new PathSelector(), paths, 3)).toEqual([1, 1, 1]);
  });

  test('prefers the PREF group among groups of the same state', () => {
    const paths = [path(ALUA_STATE.ACTIVE_NON_OPTIMIZED), path(ALUA_STATE.ACTIVE_NON_OPTIMIZED, true)];
    expect(pick(new PathSelector(), paths, 2)).toEqual([1, 1]);
  });

  test('multibus spreads over every Active path, Optimized or not', () => {
    const paths = [path(ALUA_STATE.ACTIVE_OPTIMIZED), path(ALUA_STATE.ACTIVE_NON_OPTIMIZED, true), path(ALUA_STATE.STANDBY)];
    expect(pick(new PathSelector('multibus'), paths, 4)).toEqual([0, 1, 0, 1]);
  });

  test('never picks Standby, Unavailable, Offline or Transitioning', () => {
    const paths = [path(ALUA_STATE.STANDBY), path(ALUA_STATE.UNAVAILABLE), path(ALUA_STATE.OFFLINE), path(ALUA_STATE.TRANSITIONING)];
    const sel = new PathSelector();
    expect(sel.select(paths)).toBeNull();
    expect(sel.any(paths)).toBe(false);
    expect(pathRank(path(ALUA_STATE.LOGICAL_BLOCK_DEPENDENT), 'alua')).toBeLessThan(pathRank(path(ALUA_STATE.STANDBY), 'alua'));
  });

  test('avoids the path a command just failed on while another is selectable, and takes it when it is the only one', () => {
    const paths = [path(ALUA_STATE.ACTIVE_OPTIMIZED), path(ALUA_STATE.ACTIVE_NON_OPTIMIZED)];
    const sel = new PathSelector();
    expect(pick(sel, paths, 2, paths[0]!)).toEqual([1, 1]);
    const lone = [path(ALUA_STATE.ACTIVE_OPTIMIZED)];
    expect(sel.select(lone, lone[0]!)).toBe(lone[0]);
  });
});
