import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ingest } from '../../src/ingest/ingest.js';
import { REPO } from './tmp.js';

/**
 * The demo's raw logs (fixtures/demo/make-logs.mjs, as scripts/demo.sh writes them), ingested
 * into `<dir>/bundle` for real. `clean`: the same day without the incident (--clean).
 */
export async function demoBundle(dir: string, opts: { clean?: boolean } = {}): Promise<string> {
  const logs = join(dir, 'logs');
  execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), logs, ...(opts.clean ? ['--clean'] : [])]);
  const bundle = join(dir, 'bundle');
  await ingest({ bundle, inputs: [logs] });
  return bundle;
}

export const DEMO_POLICY = join(REPO, 'fixtures/demo/policy.yaml');
