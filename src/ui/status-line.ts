/**
 * One line on a terminal's stderr, redrawn in place (carriage return, erase to end of line) and
 * cut to the terminal's width; erased by done(). Callers pass text already escaped.
 */
export class StatusLine {
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  draw(text: string): void {
    const width = (this.stream.columns ?? 100) - 1;
    this.stream.write(`\r${text.length > width ? `${text.slice(0, width - 1)}…` : text}\u001b[K`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) this.stream.write('\r\u001b[K');
    this.shown = false;
  }
}
