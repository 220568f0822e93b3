import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeParts, escapeText, hasUnsafe, safeJsonStringify } from '../../src/util/escape.js';

describe('escapeText', () => {
  it('makes terminal control visible instead of executing it', () => {
    expect(escapeText('ok\u001b[2J\u001b]0;pwned\u0007')).toBe('ok\\x1b[2J\\x1b]0;pwned\\x07');
    expect(escapeText('a\nb\tc\rd')).toBe('a\\nb\\tc\\rd');
    expect(escapeText('csi\u009b31m del\u007f')).toBe('csi\\x9b31m del\\x7f');
    expect(escapeText('evil\u202eexe.txt')).toBe('evil\\u202eexe.txt');
    expect(escapeText('zero\u200bwidth')).toBe('zero\\u200bwidth');
    expect(escapeText('lone \ud800 surrogate')).toBe('lone \\ud800 surrogate');
    expect(escapeText('plain text, ünïcödé, 日本, emoji 😀')).toBe('plain text, ünïcödé, 日本, emoji 😀');
  });

  it('never leaves an unsafe character, for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(hasUnsafe(escapeText(s))).toBe(false);
      }),
    );
  });

  it('marks escape runs for styling', () => {
    expect(escapeParts('a\u001bb')).toEqual([
      { text: 'a', escaped: false },
      { text: '\\x1b', escaped: true },
      { text: 'b', escaped: false },
    ]);
  });
});

describe('safeJsonStringify', () => {
  it('is JSON that parses back to the same value, with nothing a terminal acts on', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (v, s) => {
        const value = { v, s };
        const text = safeJsonStringify(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(hasUnsafe(text)).toBe(false);
      }),
    );
  });
});
