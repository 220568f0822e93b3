import type { IngestProgress } from '../ingest/ingest.js';
import { escapeText } from '../util/escape.js';
import { StatusLine } from './status-line.js';

/**
 * A one-line progress display on a terminal's stderr for inputs that take more than a second:
 * files done, bytes read, the current file. Redrawn at most 10 times a second; erased at the end.
 */
export class ProgressLine {
  private readonly started = Date.now();
  private lastDraw = 0;
  private readonly line: StatusLine;
  private doneBytes = 0;
  private current = { index: -1, bytes: 0 };

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.line = new StatusLine(stream);
  }

  update(p: IngestProgress): void {
    if (p.fileIndex !== this.current.index) {
      this.doneBytes += this.current.bytes;
      this.current = { index: p.fileIndex, bytes: 0 };
    }
    this.current.bytes = p.bytesRead;
    const now = Date.now();
    if (now - this.started < 1000 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const mb = (this.doneBytes + this.current.bytes) / 1048576;
    const secs = (now - this.started) / 1000;
    const name = escapeText(p.input);
    const text = `ingest: file ${p.fileIndex + 1}/${p.fileCount} · ${mb.toFixed(0)} MB read · ${(mb / secs).toFixed(0)} MB/s · ${name}`;
    this.line.draw(text);
  }

  done(): void {
    this.line.done();
  }
}
