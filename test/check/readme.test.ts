import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/check/rules.js';
import { REPO } from '../helpers/tmp.js';

/**
 * The README's CI section as a new user would try it: every `$` line of the demo block runs in a
 * scratch directory with `custody` on PATH, and its exit codes and verdict lines must be the ones
 * the README shows; the CI policy snippet must be a valid policy; the bad-policy message must be
 * what custody prints.
 */

const README = readFileSync(join(REPO, 'README.md'), 'utf8');
let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'custody-readme-'));
  mkdirSync(join(root, 'bin'));
  symlinkSync(join(REPO, 'bin/run.js'), join(root, 'bin', 'custody'));
  symlinkSync(join(REPO, 'fixtures'), join(root, 'fixtures'));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

function block(after: string): string {
  const at = README.indexOf(after);
  expect(at, after).toBeGreaterThan(-1);
  const open = README.indexOf('```', at);
  const start = README.indexOf('\n', open) + 1;
  return README.slice(start, README.indexOf('```', start));
}

describe('README: custody check and the CI recipe', () => {
  it('the demo block runs as written: the incident exits 1, the clean run exits 0, with the verdicts shown', () => {
    const text = block('<!-- ci-recipe-demo');
    const commands = text.split('\n').filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
    expect(commands).toHaveLength(6);
    const expectedExits = text.split('\n').filter((l) => /^exit \d$/.test(l));
    const verdicts = text.split('\n').filter((l) => /^(PASS|FAIL): /.test(l));
    const output: string[] = [];
    for (const c of commands) {
      const r = spawnSync('bash', ['-c', c], { cwd: root, encoding: 'utf8', env: { ...process.env, PATH: `${join(root, 'bin')}:${process.env.PATH}`, NO_COLOR: '1' } });
      expect(r.stderr, c).toBe('');
      output.push(...r.stdout.split('\n'));
    }
    expect(output.filter((l) => /^exit \d$/.test(l))).toEqual(expectedExits);
    expect(expectedExits).toEqual(['exit 1', 'exit 0']);
    expect(output.filter((l) => /^(PASS|FAIL): /.test(l))).toEqual(verdicts);
    // The lines shown verbatim (not elided with …) are the ones custody prints.
    for (const l of text.split('\n').filter((x) => /^(ok|FAIL) {2}/.test(x))) expect(output).toContain(l);
    expect(existsSync(join(root, 'demo/report.xml'))).toBe(true);
  });

  it('the CI policy snippet is a valid policy', () => {
    const text = block('For a CI policy');
    const policy = parsePolicy(text, 'ci-policy.yaml');
    expect(policy.rules.map((r) => r.kind)).toEqual(['evidence_completeness', 'forbidden_flow', 'unattributed_action']);
  });

  it('the bad-policy message is the one custody prints', () => {
    const shown = block('A bad policy names the rule').trim();
    const policy = join(root, 'policy.yaml');
    writeFileSync(policy, 'rules:\n  - name: keys-stay-home\n    kind: credential_misuse\n    severity: critical\n    allowed_cidrs: [10.0.0.0/33]\n');
    const r = spawnSync(process.execPath, [join(REPO, 'bin/run.js'), 'check', 'demo/bundle', '--rules', 'policy.yaml'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe(shown);
  });
});
