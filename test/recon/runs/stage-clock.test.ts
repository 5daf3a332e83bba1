import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StageClock } from '../../../src/recon/runs/stage-clock.js';

describe('the stage clock', () => {
  it('a stage timed inside another counts for the inner one only; the total covers all', async () => {
    const clock = new StageClock();
    await clock.stage('download', () => sleep(20));
    await clock.stage('load', async () => {
      await sleep(20);
      await clock.stage('match', () => sleep(40));
    });
    await clock.stage('match', () => sleep(10));
    const t = clock.times();
    expect(Object.keys(t)).toEqual(['downloadMs', 'loadMs', 'matchMs', 'followUpMs', 'balanceMs', 'writeMs', 'totalMs']);
    expect(t.loadMs).toBeGreaterThanOrEqual(15);
    expect(t.loadMs).toBeLessThan(40);
    expect(t.matchMs).toBeGreaterThanOrEqual(45);
    expect(t.followUpMs).toBe(0);
    expect(t.totalMs).toBeGreaterThanOrEqual(t.downloadMs + t.loadMs + t.matchMs);
  });

  it('a stage that throws still counts, and the error passes through', async () => {
    const clock = new StageClock();
    await expect(clock.stage('write', async () => { await sleep(5); throw new Error('no'); })).rejects.toThrow('no');
    expect(clock.ms('write')).toBeGreaterThan(0);
  });
});
