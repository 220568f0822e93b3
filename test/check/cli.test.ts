import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateXML } from 'xmllint-wasm';
import { readRows } from '../helpers/bundle.js';
import { cli } from '../helpers/cli.js';
import { demoBundle, DEMO_POLICY } from '../helpers/demo.js';
import { REPO } from '../helpers/tmp.js';

/** `custody check` as CI runs it: exit codes, reports on disk, the JUnit schema Jenkins reads. */

let root: string;
let demo: string;
let clean: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'custody-check-cli-'));
  demo = await demoBundle(join(root, 'demo'));
  clean = await demoBundle(join(root, 'clean'), { clean: true });
}, 60_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

const XSD = readFileSync(join(REPO, 'test/fixtures/junit/junit-10.xsd'), 'utf8');

async function validJunit(xml: string): Promise<void> {
  const r = await validateXML({ xml: [{ fileName: 'report.xml', contents: xml }], schema: [{ fileName: 'junit-10.xsd', contents: XSD }] });
  expect(r.errors.map((e) => e.rawMessage)).toEqual([]);
  expect(r.valid).toBe(true);
}

describe('custody check', () => {
  it('exit 1 on the demo incident, with a JUnit report Jenkins and GitLab read: one testcase per rule, the failure naming event ids and source refs', async () => {
    const junit = join(root, 'demo.xml');
    const r = cli(['check', demo, '--rules', DEMO_POLICY, '--junit', junit]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}credentials-stay-where-they-were-issued {2}credential_misuse · critical · 3 violations$/m);
    expect(r.stdout).toMatch(/^ok {4}short-lived-cloud-sessions +credential_lifetime · high · 25 rows examined$/m);
    expect(r.stdout).toMatch(/^FAIL {2}denies-are-enforced +unenforced_deny · critical · 2 violations$/m);
    expect(r.stdout.trim().split('\n').pop()).toBe(`FAIL: 2 of 6 rules violated (5 violations); policy ${DEMO_POLICY}; bundle ${demo} (intact)`);

    const xml = readFileSync(junit, 'utf8');
    await validJunit(xml);
    const cases = [...xml.matchAll(/<testcase name="([^"]+)" classname="([^"]+)" time="0"/g)].map((m) => [m[1], m[2]]);
    expect(cases).toEqual([
      ['credentials-stay-where-they-were-issued', 'custody.credential_misuse'],
      ['short-lived-cloud-sessions', 'custody.credential_lifetime'],
      ['denies-are-enforced', 'custody.unenforced_deny'],
      ['every-action-has-an-identity', 'custody.unattributed_action'],
      ['ci-never-reaches-instance-metadata', 'custody.forbidden_flow'],
      ['evidence-is-complete', 'custody.evidence_completeness'],
    ]);
    expect(xml).toContain('<testsuites name="custody check" tests="6" failures="2" errors="0" time="0">');
    const failures = [...xml.matchAll(/<failure message="([^"]*)" type="([^"]*)">([^<]*)<\/failure>/g)];
    expect(failures.map((f) => [f[1], f[2]])).toEqual([
      ['3 violations of credential_misuse rule credentials-stay-where-they-were-issued (severity critical)', 'credential_misuse'],
      ['2 violations of unenforced_deny rule denies-are-enforced (severity critical)', 'unenforced_deny'],
    ]);
    const rows = await readRows(demo);
    for (const row of rows.filter((x) => x.src_ip === '203.0.113.66')) {
      expect(failures[0]![3]).toContain(`event_id: ${row.event_id}`);
      expect(failures[0]![3]).toContain(`source_ref: ${demo}/${row.source_ref}`);
    }
    // The enforcement gap names both denies and the request that got around them.
    const bypass = rows.find((x) => x.source === 'envoy' && x.dst_port === 9090)!;
    for (const row of rows.filter((x) => x.outcome === 'denied' && (x.source === 'opa' || x.source === 'envoy'))) expect(failures[1]![3]).toContain(`event_id: ${row.event_id}`);
    expect(failures[1]![3]).toContain(`succeeded-after-deny: ${bypass.event_id} at ${demo}/${bypass.source_ref}`);
  });

  it('exit 0 on the clean run; the JUnit report has no failures and still validates', async () => {
    const junit = join(root, 'clean.xml');
    const r = cli(['check', clean, '--rules', DEMO_POLICY, '--junit', junit]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n').pop()).toBe(`PASS: all 6 rules hold; policy ${DEMO_POLICY}; bundle ${clean} (intact)`);
    const xml = readFileSync(junit, 'utf8');
    await validJunit(xml);
    expect(xml).not.toContain('<failure');
    expect(xml.match(/<testcase /g)).toHaveLength(6);
  });

  it('reports are byte-identical across runs (JSON and JUnit)', () => {
    const runs = [1, 2].map((i) => {
      const junit = join(root, `det-${i}.xml`);
      const r = cli(['check', demo, '--rules', DEMO_POLICY, '--format', 'json', '--junit', junit]);
      expect(r.status).toBe(1);
      return { json: r.stdout, xml: readFileSync(junit, 'utf8') };
    });
    expect(runs[1]!.json).toBe(runs[0]!.json);
    expect(runs[1]!.xml).toBe(runs[0]!.xml);
    const report = JSON.parse(runs[0]!.json);
    expect(Object.keys(report)).toEqual(['report', 'format', 'tool', 'policy', 'bundles', 'result', 'summary', 'rules']);
    expect(report.policy.sha256).toMatch(/^[0-9a-f]{64}$/);
    const manifest = JSON.parse(readFileSync(join(demo, 'manifest.json'), 'utf8'));
    expect(report.bundles).toEqual([{ dir: demo, chain_head: manifest.entries.at(-1).chain, entries: manifest.entries.length }]);
  });

  it('a bad rule file is a usage error (exit 2) naming the rule and the field', () => {
    const policy = join(root, 'bad.yaml');
    writeFileSync(policy, 'rules:\n  - name: keys-stay-home\n    kind: credential_misuse\n    severity: critical\n    allowed_cidrs: [10.0.0.0/33]\n');
    const r = cli(['check', demo, '--rules', policy]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `custody check: ${policy}: rule "keys-stay-home" (rules[0]): field allowed_cidrs[0]: "10.0.0.0/33": prefix length must be 0-32\n` +
        '  rule kinds: forbidden_flow, credential_misuse, credential_lifetime, unenforced_deny, unattributed_action, evidence_completeness; see fixtures/demo/policy.yaml\n',
    );
    writeFileSync(policy, 'rules:\n  - name: keys-stay-home\n    kind: credential_misuse\n    severity: critical\n    alowed_cidrs: [10.0.0.0/8]\n');
    expect(cli(['check', demo, '--rules', policy]).stderr.split('\n')[0]).toBe(`custody check: ${policy}: rule "keys-stay-home" (rules[0]): unknown field "alowed_cidrs"`);
    writeFileSync(policy, 'rules:\n  - name: a\n    kind: lateral_movement\n    severity: high\n');
    expect(cli(['check', demo, '--rules', policy]).stderr.split('\n')[0]).toBe(
      `custody check: ${policy}: rule "a" (rules[0]): field kind: must be one of forbidden_flow, credential_misuse, credential_lifetime, unenforced_deny, unattributed_action, evidence_completeness`,
    );
    writeFileSync(policy, '{"rules": [{"name": "a", "kind": "unenforced_deny", "severity": "urgent"}]}');
    const json = cli(['check', demo, '--rules', policy]);
    expect(json.status).toBe(2);
    expect(json.stderr.split('\n')[0]).toBe(`custody check: ${policy}: rule "a" (rules[0]): field severity: must be one of info, low, medium, high, critical`);
    writeFileSync(policy, 'rules:\n  - name: a\n   kind: x\n');
    expect(cli(['check', demo, '--rules', policy]).stderr.split('\n')[0]).toBe(`custody check: ${policy}: not valid YAML (line 3, column 1): Sequence item without - indicator`);
  });

  it('unreadable input exits 2: no policy file, no bundle, a bundle that fails verification', () => {
    const missing = cli(['check', demo, '--rules', join(root, 'nope.yaml')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr.split('\n')[0]).toBe(`custody check: ${join(root, 'nope.yaml')}: no such file`);
    expect(cli(['check', demo]).status).toBe(2);
    const nobundle = cli(['check', join(root, 'nothing'), '--rules', DEMO_POLICY]);
    expect(nobundle.status).toBe(2);
    expect(nobundle.stderr).toContain('is not a custody bundle');

    const tampered = join(root, 'tampered');
    rmSync(tampered, { recursive: true, force: true });
    cli(['ingest', join(tampered, 'bundle'), join(root, 'demo', 'logs')]);
    const m = JSON.parse(readFileSync(join(tampered, 'bundle', 'manifest.json'), 'utf8'));
    const raw = m.entries.find((e: { kind: string; path: string }) => e.kind === 'raw' && e.path.includes('k8s_audit')).path;
    appendFileSync(join(tampered, 'bundle', raw), '{"kind":"Event"}\n');
    const r = cli(['check', join(tampered, 'bundle'), '--rules', DEMO_POLICY, '--junit', join(root, 'tampered.xml')]);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^custody check: ${join(tampered, 'bundle')}: the bundle failed verification \\(1 problem\\(s\\), first: modified ${raw}: sha256 `));
    expect(r.stderr.split('\n')[1]).toBe(`  run custody verify ${join(tampered, 'bundle')} for the full list; check only reads intact evidence`);
  });

  it('--help documents the command and its exit codes', () => {
    const r = cli(['check', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('EXAMPLES');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('Exit codes: 0 every rule holds, 1 at least one violation, 2 usage or unreadable input');
  });
});
