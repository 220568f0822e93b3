import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

/** A unique temporary directory per test, removed after it. */
export function useTmpDir(): () => string {
  let dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs = [];
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'custody-test-'));
    dirs.push(d);
    return d;
  };
}

export const SAMPLES = new URL('../fixtures/samples/', import.meta.url).pathname;
export const REPO = new URL('../../', import.meta.url).pathname;
