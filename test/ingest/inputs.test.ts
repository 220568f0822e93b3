import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expandInputs } from '../../src/ingest/inputs.js';
import { ProgressLine } from '../../src/ui/progress.js';
import { useTmpDir } from '../helpers/tmp.js';

const tmp = useTmpDir();

describe('inputs', () => {
  it('expands a quoted glob to regular files, in order, without following symlinks', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'x.json.gz'), '');
    writeFileSync(join(dir, 'a', 'b', 'y.json.gz'), '');
    writeFileSync(join(dir, 'a', 'b', 'z.txt'), '');
    symlinkSync('/etc/passwd', join(dir, 'a', 'b', 'link.json.gz'));
    const { files, skipped } = await expandInputs([join(dir, 'a/**/*.json.gz'), join(dir, 'nothing-*.json')]);
    expect(files.map((f) => f.display.slice(dir.length))).toEqual(['/a/b/y.json.gz', '/a/x.json.gz']);
    expect(skipped.map((s) => [s.display.slice(dir.length), s.reason])).toEqual([['/nothing-*.json', 'the pattern matches no file']]);
  });
});

describe('progress line', () => {
  afterEach(() => vi.useRealTimers());

  it('appears only after a second, redraws at most 10 times a second, escapes file names, and erases itself', () => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
    const writes: string[] = [];
    const stream = { columns: 80, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream;
    const p = new ProgressLine(stream);
    p.update({ input: 'a.json', fileIndex: 0, fileCount: 2, bytesRead: 1 << 20 });
    expect(writes).toEqual([]);
    vi.setSystemTime(1500);
    p.update({ input: 'evil\u001b[2J.json', fileIndex: 1, fileCount: 2, bytesRead: 1 << 20 });
    vi.setSystemTime(1550);
    p.update({ input: 'evil\u001b[2J.json', fileIndex: 1, fileCount: 2, bytesRead: 2 << 20 });
    expect(writes).toHaveLength(1);
    expect(writes[0]).toBe('\ringest: file 2/2 · 2 MB read · 1 MB/s · evil\\x1b[2J.json\u001b[K');
    p.done();
    expect(writes.at(-1)).toBe('\r\u001b[K');
  });
});
