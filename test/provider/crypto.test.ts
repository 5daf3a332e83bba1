import { describe, expect, it } from 'vitest';
import { decrypt3des, encrypt3des, sign } from '../../src/provider/crypto.js';

// PROTOCOL-NOTES.md: the document's example with its misread characters repaired.
const KEY = '123456788765432112345678';
const APP_KEY = '78f9b4fad3481fbce1df0b30eee58577';
const PLAINTEXT = '{"order_id": "201609010016562012987","init_batch_id": "201609_-NDJ","cur_batch_id": "201609_-NDJ","issue_id": "201609-NDJ","reserve_id": "56244623 20160901-1","dealer_id": "sixcn","broker_id": "0","anchor_id": "56244623","real_name": "张三","card_no": "6228880199872220","bank_name": "招商银行","bank_branch": "上地分行","bank_prov": "北京","bank_city": "北京","phone_no": "13488795491","id_card": "123532612312312321","yyyy_mm": "201609","pay": "100000.00"}';
const CIPHERTEXT = '0eUw2Nk2isX+IRlttM7eKomZCAfJlocPw2lG4uVrc0qIIbhOusoy0Pp5hl5sWKRxrp4+/YVTJKqFGlS+dB+0/ApQ9/yVvQmmDdIx4kdUw487S4KruUxMy14qkrqSreTHKkGww71pUX8Xe6jBBZHkGTeibyOWEiaxp3UUNJs7Qxo0rWAct4+0ntTdniNMalsQbKQ7AvhuwWJY+c9HSgMtizJ7IlkhzfOC9SyUr7353G/fd1GX7p2Q+j22b7YceAyZyIgsdEyX24z0tPeh6b49pKJpThf792UJxkxCDq3rdbAfAVpmf+erQ8qBHgD+KElyB5ywHBkTNLxZEW1tzMmd7C76ANmrQgY8oOz7e91DTjbuc8z4Qr8QsWub0+mUNrlGvbYeCfc2+emkeo1moVZXujLof8JmrCZUSstrg9qE1kEptj0SvnELk9RYEAYqXe15O0fLWz/ywRgCmerpWdqRViWp+YV4+9QrI1bCRlWRp+7Xuc8hNCsIojaOxK0Xpn4gbde1+dX1SYOJu9RqIMDRdTzfllUwzsGexLu9sb3NphodW7brNG5l/lG4k5vs23565DJgbr/zvXYTslLwHkr+RkVYSyhjr0xPF1ZQQHzZdzdN4DiliRAlATE27BDHSTvV';

describe('provider crypto', () => {
  it('reproduces the corrected test vector ciphertext', () => {
    expect(encrypt3des(PLAINTEXT, KEY)).toBe(CIPHERTEXT);
  });

  it('reproduces the document signature a55c3129…799d', () => {
    expect(sign(CIPHERTEXT, '12313', '123457', APP_KEY)).toBe('a55c3129a230a4d8abdd5f39bb5f1188a46f6c18adb8146a67f1888650da799d');
  });

  it('decrypts what it encrypts, and a wrong key fails', () => {
    expect(decrypt3des(CIPHERTEXT, KEY)).toBe(PLAINTEXT);
    expect(() => decrypt3des(CIPHERTEXT, '876543211234567887654321')).toThrow();
  });
});
