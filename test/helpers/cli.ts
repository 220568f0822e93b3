import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './tmp.js';

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`bin/run.js` → dist/) as a user would, without a terminal. */
export function cli(args: string[], opts: { input?: string | Buffer; env?: Record<string, string> } = {}): CliResult {
  if (!existsSync(join(REPO, 'dist/commands/ingest.js'))) throw new Error('dist/ is not built: run `npm run build` (scripts/test.sh does)');
  const r = spawnSync(process.execPath, [join(REPO, 'bin/run.js'), ...args], {
    input: opts.input,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...opts.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
