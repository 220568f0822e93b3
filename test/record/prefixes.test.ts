import { describe, expect, it } from 'vitest';
import { recorderOptionsSchema } from '../../src/record/native.js';
import { credPrefixProblem, expandCredPrefixes, userHomes } from '../../src/record/prefixes.js';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'svc:x:999:999::/:/usr/sbin/nologin',
  'alice:x:1000:1000::/home/alice/:/bin/bash',
  '# comment:x:::::',
  '',
].join('\n');

describe('credential prefixes', () => {
  it('collects distinct absolute homes, without /', () => {
    expect(userHomes(PASSWD)).toEqual(['/home/alice', '/nonexistent', '/root', '/usr/sbin']);
  });

  it('expands ~/ once per home and keeps absolute prefixes', () => {
    expect(expandCredPrefixes(['/var/run/secrets/', '~/.aws/', '/var/run/secrets/'], ['/root', '/home/alice'])).toEqual([
      '/var/run/secrets/',
      '/root/.aws/',
      '/home/alice/.aws/',
    ]);
  });

  it('says why a prefix cannot reach the kernel', () => {
    expect(credPrefixProblem('/etc/shadow')).toBeNull();
    expect(credPrefixProblem('etc/shadow')).toBe('credential prefix "etc/shadow" is not an absolute path');
    expect(credPrefixProblem(`/${'a'.repeat(64)}`)).toBe(
      `credential prefix "/${'a'.repeat(64)}" is 65 bytes; the kernel matches at most 64`,
    );
  });
});

describe('recorder options', () => {
  const onBatch = () => {};

  it('fills defaults: every kind, no scope filter, 8 MiB ring', () => {
    const o = recorderOptionsSchema.parse({ onBatch });
    expect(o.kinds).toHaveLength(10);
    expect(o.pids).toBeUndefined();
    expect(o.ringBytes).toBe(8 << 20);
    expect(o.recordSelf).toBe(false);
  });

  it.each([
    [{ ringBytes: 12288 }, 'ringBytes must be a power of two'],
    [{ kinds: ['exec', 'mount'] }, 'Invalid option: expected one of'],
    [{ comms: ['a-comm-longer-than-15'] }, 'Too big: expected string to have <=15 characters'],
    [{ rateLimits: { exec: { perSec: 2_000_000 } } }, 'Too big: expected number to be <=1000000'],
    [{ pids: [0] }, 'Too small: expected number to be >=1'],
    [{ extra: true }, 'Unrecognized key: "extra"'],
  ])('rejects %j', (bad, message) => {
    const r = recorderOptionsSchema.safeParse({ onBatch, ...bad });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain(message);
  });

  it('requires onBatch', () => {
    const r = recorderOptionsSchema.safeParse({});
    expect(r.error?.issues[0]?.message).toBe('onBatch must be a function (batch: Buffer) => void');
  });
});
