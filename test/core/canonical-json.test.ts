import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalBytes, canonicalize } from '../../src/core/canonical-json.js';

/** RFC 8785 Appendix B: IEEE 754 bit patterns and their one serialization. */
const NUMBERS: Array<[string, string | null]> = [
  ['0000000000000000', '0'],
  ['8000000000000000', '0'], // minus zero
  ['0000000000000001', '5e-324'],
  ['8000000000000001', '-5e-324'],
  ['7fefffffffffffff', '1.7976931348623157e+308'],
  ['ffefffffffffffff', '-1.7976931348623157e+308'],
  ['4340000000000000', '9007199254740992'],
  ['c340000000000000', '-9007199254740992'],
  ['4430000000000000', '295147905179352830000'],
  ['7fffffffffffffff', null], // NaN
  ['7ff0000000000000', null], // Infinity
  ['44b52d02c7e14af5', '9.999999999999997e+22'],
  ['44b52d02c7e14af6', '1e+23'],
  ['44b52d02c7e14af7', '1.0000000000000001e+23'],
  ['444b1ae4d6e2ef4e', '999999999999999700000'],
  ['444b1ae4d6e2ef4f', '999999999999999900000'],
  ['444b1ae4d6e2ef50', '1e+21'],
  ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
  ['3eb0c6f7a0b5ed8d', '0.000001'],
  ['41b3de4355555553', '333333333.3333332'],
  ['41b3de4355555554', '333333333.33333325'],
  ['41b3de4355555555', '333333333.3333333'],
  ['41b3de4355555556', '333333333.3333334'],
  ['41b3de4355555557', '333333333.33333343'],
  ['becbf647612f3696', '-0.0000033333333333333333'],
  ['43143ff3c1cb0959', '1424953923781206.2'], // round to even
];

function fromBits(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

test('RFC 8785 Appendix B: every number serializes as the table says; NaN and Infinity are refused', () => {
  for (const [bits, expected] of NUMBERS) {
    const n = fromBits(bits);
    if (expected === null) {
      assert.throws(
        () => canonicalize(n),
        (err: Error & { code?: string }) =>
          err.code === 'BAD_INPUT' && /canonical JSON cannot hold (NaN|Infinity)/.test(err.message),
        bits,
      );
      assert.throws(() => canonicalize([-n]), /canonical JSON cannot hold/, `-${bits}`);
    } else {
      assert.equal(canonicalize(n), expected, bits);
    }
  }
});

test('RFC 8785 3.2.2: the main example, as text and as the UTF-8 bytes the RFC lists', () => {
  // The input as the RFC writes it, parsed by JSON.parse (so its number literals are read as the RFC reads them).
  const input = JSON.parse(String.raw`{
    "numbers": [333333333.33333329, 1E30, 4.50,
                2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  }`);
  const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
  assert.equal(canonicalize(input), expected);
  const hex = `7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
    75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
    5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
    65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
    5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
    30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`.replace(/\s+/g, '');
  assert.equal(canonicalBytes(input).toString('hex'), hex);
});

test('RFC 8785 3.2.3: properties sorted by UTF-16 code units, not code points or UTF-8', () => {
  const input = JSON.parse(String.raw`{
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  }`);
  // The RFC's order: U+FB33 sorts after the emoji's surrogate pair (D83D…) although its code point is smaller.
  // (Compared as text: JSON.parse would put the integer-like key "1" first again.)
  const names = [...canonicalize(input).matchAll(/"[^"]*":"([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(names, [
    'Carriage Return',
    'One',
    'Control',
    'Latin Small Letter O With Diaeresis',
    'Euro Sign',
    'Emoji: Grinning Face',
    'Hebrew Letter Dalet With Dagesh',
  ]);
  assert.equal(
    canonicalize(input),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
  );
});

test('RFC 8785 3.2.2.2: string escaping: the two-character escapes, \\u00XX lowercase for other controls, everything else as is', () => {
  assert.equal(canonicalize('\b\t\n\f\r"\\'), String.raw`"\b\t\n\f\r\"\\"`);
  assert.equal(canonicalize('\u0000\u0001\u001f\u007f'), '"\\u0000\\u0001\\u001f\u007f"');
  assert.equal(canonicalize('/ \u2028 \u00e9 😀'), '"/ \u2028 é 😀"', 'no escape for /, U+2028 or non-ASCII');
  assert.equal(canonicalBytes('é😀').toString('hex'), '22c3a9f09f988022');
});

test('a lone surrogate is refused with a clear error, in a value and in a key; a pair is accepted', () => {
  for (const bad of ['\ud800', 'abc\udc00', 'x\ud83d', '\ude00y']) {
    assert.throws(
      () => canonicalize({ k: bad }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'BAD_INPUT');
        assert.match(
          err.message,
          /^canonical JSON cannot hold a lone surrogate \(U\+D[89A-F][0-9A-F]{2} at index \d+ of the string .*\): the string is not Unicode text$/,
        );
        return true;
      },
    );
    assert.throws(() => canonicalize({ [bad]: 1 }), /lone surrogate/);
  }
  assert.throws(() => canonicalize('ab\udc00'), /U\+DC00 at index 2/);
  assert.equal(canonicalize('\ud83d\ude00'), '"😀"');
});
