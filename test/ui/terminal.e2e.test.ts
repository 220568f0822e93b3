import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { REPO, useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

/** The real CLI in a real terminal (tmux), driven by keystrokes, read back with capture-pane. */
describe.skipIf(!hasTmux)('reconstruct in a terminal (tmux)', () => {
  it('opens the demo timeline, shows a download with its chain, and quits on q', async () => {
    const dir = tmp();
    execFileSync(process.execPath, [join(REPO, 'fixtures/demo/make-logs.mjs'), join(dir, 'logs')]);
    expect(cli(['ingest', join(dir, 'b'), join(dir, 'logs')]).status).toBe(0);
    const sock = `custody-test-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', 'e2e');
    // Generous deadlines: under a full parallel suite on 2 cores, starting node, oclif and DuckDB can take seconds.
    const waitFor = async (text: string, seconds = 20) => {
      for (const deadline = Date.now() + seconds * 1000; Date.now() < deadline; ) {
        if (screen().includes(text)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for ${JSON.stringify(text)}; screen:\n${screen()}`);
    };
    // CI=true as CI runners set it: Ink then draws only the last frame unless custody overrides it.
    tmux('new-session', '-d', '-s', 'e2e', '-x', '160', '-y', '40', `CI=true ${process.execPath} ${join(REPO, 'bin/run.js')} reconstruct ${join(dir, 'b')}; echo EXITED=$?; sleep 30`);
    try {
      await waitFor('36 rows', 60);
      // The header can show the count before the first page of rows has loaded (rows render as …).
      await waitFor('s3://prod-secrets/db.env');
      expect(screen()).not.toContain('\u001b');
      tmux('send-keys', '-t', 'e2e', 'G');
      await waitFor('row 36/36');
      tmux('send-keys', '-t', 'e2e', 'k', 'k', 'Enter'); // row 34: the download from 203.0.113.66
      await waitFor('Identity chain');
      expect(screen()).toContain('ci/build-7f9c');
      expect(screen()).toContain('credential-issuance (exact)');
      expect(screen()).toContain('alice@example.com');
      tmux('send-keys', '-t', 'e2e', 'NPage'); // the fields are further down the detail
      await waitFor('203.0.113.66');
      tmux('send-keys', '-t', 'e2e', 'Escape');
      await waitFor('row 34/36');
      tmux('send-keys', '-t', 'e2e', 'q');
      await waitFor('EXITED=0');
    } finally {
      spawnSync('tmux', ['-L', sock, 'kill-server']);
    }
  }, 180_000);
});
