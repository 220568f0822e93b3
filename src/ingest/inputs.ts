import { createReadStream } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { glob, isDynamicPattern } from 'tinyglobby';

function isGlob(arg: string): boolean {
  return isDynamicPattern(arg);
}

/**
 * Expands what the user named on the command line (files, directories, globs, `-` for stdin) into
 * input files. Directories are walked recursively in name order; inside them only regular
 * files are read (symlinks, FIFOs, sockets and devices are reported, never followed or opened,
 * so a planted FIFO cannot hang the ingest and a symlink cannot pull host files in).
 */

export interface InputFile {
  /** The path as the user would recognize it (given path, or dir/relative path; '-' for stdin). */
  display: string;
  /** Base name used in the raw/ file name. */
  name: string;
  /** Size in bytes when known (not for stdin). */
  size?: number;
  open(): Readable;
}

export interface SkippedInput {
  display: string;
  reason: string;
}

export interface ExpandedInputs {
  files: InputFile[];
  skipped: SkippedInput[];
}

export async function expandInputs(args: readonly string[], stdin: Readable = process.stdin): Promise<ExpandedInputs> {
  const files: InputFile[] = [];
  const skipped: SkippedInput[] = [];
  let stdinUsed = false;
  for (const arg of args) {
    if (arg === '-') {
      if (stdinUsed) {
        skipped.push({ display: '-', reason: 'standard input named twice' });
        continue;
      }
      stdinUsed = true;
      files.push({ display: '-', name: 'stdin', open: () => stdin });
      continue;
    }
    let st;
    try {
      st = await stat(arg); // the user named this path: follow a symlink they gave us
    } catch (err) {
      if (isGlob(arg)) {
        // A quoted glob (the shell did not expand it): regular files only, symlinks not followed.
        const matches = await glob(arg, { onlyFiles: true, followSymbolicLinks: false, dot: true, absolute: isAbsolute(arg), expandDirectories: false });
        if (matches.length === 0) skipped.push({ display: arg, reason: 'the pattern matches no file' });
        for (const m of matches.sort()) {
          try {
            const fst = await lstat(m);
            if (fst.isFile()) files.push(fileInput(m, m, fst.size));
            else skipped.push({ display: m, reason: 'not a regular file: not read' });
          } catch (e) {
            skipped.push({ display: m, reason: describeFsError(e) });
          }
        }
        continue;
      }
      skipped.push({ display: arg, reason: describeFsError(err) });
      continue;
    }
    if (st.isDirectory()) await walk(arg, arg, files, skipped);
    else if (st.isFile()) files.push(fileInput(arg, arg, st.size));
    else skipped.push({ display: arg, reason: 'not a regular file or directory' });
  }
  return { files, skipped };
}

function fileInput(path: string, display: string, size?: number): InputFile {
  return { display, name: basename(path), size, open: () => createReadStream(path, { highWaterMark: 4 << 20 }) };
}

async function walk(root: string, dir: string, files: InputFile[], skipped: SkippedInput[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    skipped.push({ display: dir, reason: describeFsError(err) });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of entries) {
    const path = join(dir, d.name);
    const display = join(root, relative(root, path));
    if (d.isDirectory()) await walk(root, path, files, skipped);
    else if (d.isFile()) {
      let size: number | undefined;
      try {
        size = (await lstat(path)).size;
      } catch {
        // reported when it is read
      }
      files.push(fileInput(path, display, size));
    }
    else if (d.isSymbolicLink()) skipped.push({ display, reason: 'symbolic link inside a directory: not followed (name it directly to ingest its target)' });
    else {
      let kind = 'special file';
      try {
        const st = await lstat(path);
        kind = st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : kind;
      } catch {
        // keep the generic description
      }
      skipped.push({ display, reason: `${kind}: not read` });
    }
  }
}

export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    default:
      return e.message ?? String(err);
  }
}
