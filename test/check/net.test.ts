import { describe, expect, it } from 'vitest';
import { globMatcher } from '../../src/check/glob.js';
import { destinationMatches, hostOfTarget, NetSet, parseCidr, parseDestination, type Cidr, type Destination, type FlowFacts } from '../../src/check/net.js';
import type { CheckReport } from '../../src/check/report.js';
import { renderCheckSummary, renderJunit, xmlAttr } from '../../src/ui/check.js';

const dest = (t: string) => parseDestination(t) as Destination;
const flow = (f: Partial<FlowFacts>): FlowFacts => ({ ip: null, port: null, hosts: [], spiffeIds: [], ...f });

describe('destinations of forbidden_flow rules', () => {
  it('parses every form, and says what is wrong with a bad one', () => {
    expect(dest('10.0.0.0/8')).toMatchObject({ kind: 'cidr', cidr: { family: 'ipv4', address: '10.0.0.0', prefix: 8 }, port: null });
    expect(dest('10.0.0.0/8:5432')).toMatchObject({ kind: 'cidr', port: 5432 });
    expect(dest('169.254.169.254')).toMatchObject({ kind: 'cidr', cidr: { prefix: 32 } });
    expect(dest('fd00::/8')).toMatchObject({ kind: 'cidr', cidr: { family: 'ipv6', prefix: 8 }, port: null });
    expect(dest('[fd00:ec2::254]:80')).toMatchObject({ kind: 'cidr', cidr: { family: 'ipv6', prefix: 128 }, port: 80 });
    expect(dest('vault.internal:8200')).toEqual({ kind: 'host', text: 'vault.internal:8200', host: 'vault.internal', port: 8200 });
    expect(dest('*.example.com')).toMatchObject({ kind: 'host', host: '*.example.com', port: null });
    expect(dest('*:22')).toEqual({ kind: 'any', text: '*:22', port: 22 });
    expect(dest('spiffe://prod.example/ns/db/sa/db')).toEqual({ kind: 'spiffe', text: 'spiffe://prod.example/ns/db/sa/db', id: 'spiffe://prod.example/ns/db/sa/db', prefix: false });
    expect(dest('spiffe://prod.example/ns/db/*')).toMatchObject({ kind: 'spiffe', id: 'spiffe://prod.example/ns/db/', prefix: true });
    expect(parseDestination('10.0.0.0/33')).toBe('"10.0.0.0/33": prefix length must be 0-32');
    expect(parseDestination('10.0.0.0/8:0')).toBe('"10.0.0.0/8:0": port must be 1-65535 or *');
    expect(parseDestination('*')).toBe('"*": "*" needs a port (e.g. *:22)');
    expect(parseDestination('*:*')).toBe('"*:*": "*" needs a port (e.g. *:22)');
    expect(parseDestination('spiffe://td/a*b')).toBe('"spiffe://td/a*b": a SPIFFE id may only end with /* (prefix match)');
    expect(parseDestination('bad host!')).toBe('"bad host!" is not a CIDR, host[:port] or spiffe:// id');
  });

  it('matches addresses (v4, v6, v4-mapped), ports, hosts and SPIFFE ids', () => {
    expect(destinationMatches(dest('169.254.169.254/32'), flow({ ip: '169.254.169.254', port: 80 }))).toBe(true);
    expect(destinationMatches(dest('169.254.169.254/32'), flow({ ip: '::ffff:169.254.169.254', port: 80 }))).toBe(true);
    expect(destinationMatches(dest('10.0.0.0/8:5432'), flow({ ip: '10.20.30.40', port: 5432 }))).toBe(true);
    expect(destinationMatches(dest('10.0.0.0/8:5432'), flow({ ip: '10.20.30.40', port: 5433 }))).toBe(false);
    expect(destinationMatches(dest('10.0.0.0/8'), flow({ ip: '11.0.0.1' }))).toBe(false);
    expect(destinationMatches(dest('fd00::/8'), flow({ ip: 'fd12::1' }))).toBe(true);
    expect(destinationMatches(dest('fd00::/8'), flow({ ip: '10.0.0.1' }))).toBe(false);
    expect(destinationMatches(dest('*:22'), flow({ ip: '192.0.2.1', port: 22 }))).toBe(true);
    expect(destinationMatches(dest('*.example.com:443'), flow({ hosts: ['api.example.com'], port: 443 }))).toBe(true);
    expect(destinationMatches(dest('*.example.com'), flow({ hosts: ['example.com'] }))).toBe(false);
    expect(destinationMatches(dest('vault.internal'), flow({ hosts: ['VAULT.internal.'] }))).toBe(true);
    expect(destinationMatches(dest('spiffe://td/ns/db/*'), flow({ spiffeIds: ['spiffe://td/ns/db/sa/pg'] }))).toBe(true);
    expect(destinationMatches(dest('spiffe://td/ns/db/sa/pg'), flow({ spiffeIds: ['spiffe://td/ns/db/sa/pg2'] }))).toBe(false);
  });

  it('host of a target: URLs, host:port, never addresses or paths', () => {
    expect(hostOfTarget('https://user@api.example.com:8443/v1?q')).toBe('api.example.com');
    expect(hostOfTarget('vault.internal:8200')).toBe('vault.internal');
    expect(hostOfTarget('10.0.0.1:443')).toBeNull();
    expect(hostOfTarget('/var/run/secrets/token')).toBeNull();
    expect(hostOfTarget('spiffe://td/x')).toBeNull();
  });

  it('allowed networks', () => {
    const nets = new NetSet([parseCidr('10.0.0.0/8') as Cidr, parseCidr('2001:db8::/32') as Cidr]);
    expect(nets.has('10.1.2.3')).toBe(true);
    expect(nets.has('::ffff:10.1.2.3')).toBe(true);
    expect(nets.has('2001:db8::1')).toBe(true);
    expect(nets.has('198.51.100.20')).toBe(false);
    expect(nets.has('s3.amazonaws.com')).toBe(false);
  });
});

describe('globs', () => {
  it('* stays within a path segment, ** crosses them, everything else is literal', () => {
    expect(globMatcher('/var/run/secrets/**')('/var/run/secrets/kubernetes.io/serviceaccount/token')).toBe(true);
    expect(globMatcher('**/.aws/credentials')('/root/.aws/credentials')).toBe(true);
    expect(globMatcher('**/.aws/credentials')('.aws/credentials')).toBe(true);
    expect(globMatcher('**/.aws/credentials')('/root/x.aws/credentials')).toBe(false);
    expect(globMatcher('arn:aws:iam::*:role/ci-*')('arn:aws:iam::111122223333:role/ci-deployer')).toBe(true);
    expect(globMatcher('arn:aws:iam::*:role/ci-*')('arn:aws:iam::111122223333:role/ci-deployer/x')).toBe(false);
    expect(globMatcher('a.b(c)')('a.b(c)')).toBe(true);
    expect(globMatcher('a.b')('axb')).toBe(false);
  });
});

describe('report rendering', () => {
  // A report whose evidence strings carry terminal escapes and XML metacharacters, as hostile logs do.
  const report: CheckReport = {
    report: 'custody-check',
    format: 1,
    tool: { name: 'custody', version: '0.1.0' },
    policy: { file: 'p.yaml', sha256: '0'.repeat(64) },
    bundles: [{ dir: 'b', chain_head: '1'.repeat(64), entries: 3 }],
    result: 'fail',
    summary: { rules: 1, passed: 0, failed: 1, violations: 1 },
    rules: [
      {
        name: 'r<&>"',
        kind: 'unattributed_action',
        severity: 'high',
        description: null,
        status: 'fail',
        examined: 1,
        violations: [
          {
            event_id: 'e1',
            time: '2026-03-10T10:41:09Z',
            source: 'cloudtrail',
            source_ref: 'raw/x:1',
            bundle: 'b',
            action: 's3:GetObject\u001b[2J',
            target: 'a</failure>&\u0007',
            actor_id: null,
            credential_id: null,
            src_ip: null,
            message: 'by \u001b]0;pwned\u0007 \ufffe',
            related: [],
          },
        ],
      },
    ],
  };

  it('the summary shows escapes, never executes them', () => {
    const text = renderCheckSummary(report);
    expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('s3:GetObject\\x1b[2J');
    expect(text).toContain('by \\x1b]0;pwned\\x07');
  });

  it('JUnit text and attributes are escaped for XML and for terminals', () => {
    const xml = renderJunit(report);
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe]/);
    expect(xml).toContain('<testcase name="r&lt;&amp;&gt;&quot;" classname="custody.unattributed_action" time="0">');
    expect(xml).toContain('by \\x1b]0;pwned\\x07 \\ufffe');
    expect(xml).not.toContain('a</failure>');
    expect(xmlAttr('a\nb\t"')).toBe('a&#10;b&#9;&quot;');
  });
});
