import { describe, expect, it } from 'vitest';
import type { RealtimeOrder } from '../../../src/provider/client.js';
import { liveAmount, liveDetail, liveState, liveStatus, liveTime, readAnswer } from '../../../src/recon/live/live-state.js';

const order = (status: unknown, detail: unknown = 0): RealtimeOrder => ({ status, status_detail: detail } as unknown as RealtimeOrder);

describe('a live answer in the files’ vocabulary', () => {
  it('maps each status of the document’s appendix 1 (and 1/27, the pending red packet)', () => {
    const cases: [unknown, unknown, string][] = [
      [1, 0, 'paid'], [1, 27, 'paid_pending_claim'], [2, 0, 'failed'], [9, 213, 'returned'],
      [-1, 0, 'deleted'], [15, 0, 'deleted'], [0, 0, 'unresolved'], [4, 0, 'unresolved'], [5, 0, 'unresolved'],
      [8, 0, 'unresolved'], [11, 112, 'unresolved'], [18, 0, 'unresolved'],
    ];
    expect(cases.map(([status, detail]) => liveState('0000', order(status, detail)))).toEqual(cases.map(([, , state]) => state));
  });

  it('a status outside appendix 1, or a status or status_detail that is no integer, is no evidence', () => {
    const cases: [unknown, unknown][] = [
      [true, 0], [1, true], ['n/a', 0], [99, 0], [3, 0], [1.5, 0], [1, 0.5], [null, 0], [1, null], ['1.0', 0], [' 1', 0], ['', 0], [1, 'n/a'],
    ];
    expect(cases.map(([status, detail]) => liveState('0000', order(status, detail)))).toEqual(cases.map(() => null));
  });

  it('integers sent as strings of digits are read as the numbers they are; a status_detail appendix 2 lacks changes nothing', () => {
    const cases: [unknown, unknown, string][] = [['1', '27', 'paid_pending_claim'], ['1', 0, 'paid'], [1, '27', 'paid_pending_claim'], ['9', '213', 'returned'], ['-1', '0', 'deleted'], [1, 26, 'paid']];
    expect(cases.map(([status, detail]) => liveState('0000', order(status, detail)))).toEqual(cases.map(([, , state]) => state));
  });

  it('an answer is evidence only about the order asked, of our dealer, and says why when it is not', () => {
    const answer = (fields: Record<string, unknown>) => ({ order_id: 'X1', dealer_id: 'ours', status: 1, status_detail: 0, ...fields }) as unknown as RealtimeOrder;
    expect(readAnswer('X1', 'ours', '0000', answer({}))).toEqual({ state: 'paid', status: 1, statusDetail: 0, answeredOrderId: 'X1', problem: null });
    // No dealer_id in the answer at all is fine: the document's answer may leave it out.
    expect(readAnswer('X1', 'ours', '0000', answer({ dealer_id: undefined })).state).toBe('paid');
    expect(readAnswer('X1', 'ours', '0000', answer({ order_id: 'OTHER-777' })))
      .toEqual({ state: null, status: 1, statusDetail: 0, answeredOrderId: 'OTHER-777', problem: 'the answer is about order "OTHER-777", not X1' });
    expect(readAnswer('X1', 'ours', '0000', answer({ order_id: 'x'.repeat(300) })).answeredOrderId).toBe('x'.repeat(128));
    expect(readAnswer('X1', 'ours', '0000', answer({ dealer_id: null })).problem).toBe('the answer is of dealer null, not ours');
    expect(readAnswer('X1', 'ours', '0000', answer({ status: 'y'.repeat(100) })).problem)
      .toBe(`status "${'y'.repeat(36)}... is not a status of the document's appendix 1`);
    expect(readAnswer('X1', 'ours', '2018', null)).toEqual({ state: 'not_found', status: null, statusDetail: null, answeredOrderId: null, problem: null });
    expect(readAnswer('X1', 'ours', '3000', null).state).toBeNull();
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
    expect([liveStatus(-1), liveStatus(18), liveStatus(' 1 '), liveStatus(3), liveStatus('9'), liveDetail(278), liveDetail('27'), liveDetail(1), liveDetail('2.7')])
      .toEqual([-1, 18, null, null, 9, 278, 27, 1, null]);
  });
});
