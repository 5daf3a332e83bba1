import { describe, expect, it } from 'vitest';
import type { RealtimeOrder } from '../../src/provider/client.js';
import { liveAmount, liveInt, liveState, liveTime } from '../../src/recon/lifecycle/followup/live-state.js';

const order = (status: unknown, detail: unknown = 0): RealtimeOrder => ({ status, status_detail: detail } as unknown as RealtimeOrder);

describe('a live answer in the files’ vocabulary', () => {
  it('maps each status of the document’s appendix 1 (and 1/27, the pending red packet)', () => {
    const cases: [unknown, unknown, string][] = [
      [1, 0, 'paid'], [1, 27, 'paid_pending_claim'], ['1', '27', 'paid_pending_claim'], [2, 0, 'failed'], [9, 213, 'returned'],
      [-1, 0, 'deleted'], [15, 0, 'deleted'], [0, 0, 'unresolved'], [4, 0, 'unresolved'], [5, 0, 'unresolved'],
      [8, 0, 'unresolved'], [11, 0, 'unresolved'], [18, 0, 'unresolved'], [99, 0, 'unresolved'],
    ];
    expect(cases.map(([status, detail]) => liveState('0000', order(status, detail)))).toEqual(cases.map(([, , state]) => state));
  });

  it('not found only for 2011 and 2018; any other code, or no order, is no evidence', () => {
    expect(liveState('2011', null)).toBe('not_found');
    expect(liveState('2018', order(1))).toBe('not_found');
    expect(liveState('3000', order(1))).toBeNull();
    expect(liveState('0000', null)).toBeNull();
  });

  it('reads amounts, times and integers exactly, and nothing else', () => {
    expect([liveAmount(' 100.5 '), liveAmount('0.01'), liveAmount('1.234'), liveAmount(''), liveAmount(100), liveAmount(null)])
      .toEqual(['100.50', '0.01', null, null, null, null]);
    expect(liveTime(' 2024-03-10 20:15:00 ')).toEqual(new Date('2024-03-10T12:15:00Z'));
    expect([liveTime(''), liveTime('-/-'), liveTime('2024-02-30 10:00:00'), liveTime(1710072900000)]).toEqual([null, null, null, null]);
    expect([liveInt(27), liveInt(' 27 '), liveInt('-1'), liveInt(' '), liveInt('1.5'), liveInt(1.5), liveInt(null)])
      .toEqual([27, 27, -1, null, null, null, null]);
  });
});
