import { once } from 'node:events';
import type { Writable } from 'node:stream';

/**
 * Writes to a stream with backpressure, so printing a million rows never buffers them all.
 * A closed pipe (`custody reconstruct … | head`) ends the output quietly.
 */
export class Out {
  closed = false;

  constructor(readonly stream: Writable = process.stdout) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') this.closed = true;
      else throw err;
    });
  }

  get isTTY(): boolean {
    return Boolean((this.stream as { isTTY?: boolean }).isTTY);
  }

  get columns(): number {
    return (this.stream as { columns?: number }).columns ?? 160;
  }

  async write(text: string): Promise<void> {
    if (this.closed) return;
    if (!this.stream.write(text)) {
      // One listener pair per wait, removed whichever fires (no pile-up on long outputs).
      const ac = new AbortController();
      try {
        await Promise.race([once(this.stream, 'drain', { signal: ac.signal }), once(this.stream, 'close', { signal: ac.signal })]);
      } catch (err) {
        if ((err as Error).name !== 'AbortError') throw err;
      } finally {
        ac.abort();
      }
    }
  }

  async end(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.stream.write('', () => resolve()));
  }
}
