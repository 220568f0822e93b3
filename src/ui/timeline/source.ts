import type { TimelineRow } from '../../reconstruct/index.js';

/** What the interactive timeline reads from; the command adapts a reconstruct query to it. */
export interface TimelineSource {
  /** One line describing the bundles and filters. */
  readonly title: string;
  readonly grep: string;
  count(): Promise<number>;
  page(offset: number, limit: number): Promise<TimelineRow[]>;
  byId(eventId: string): Promise<TimelineRow | undefined>;
  raw(row: TimelineRow): Promise<string>;
  /** The same timeline with a different --grep text ('' clears it). */
  withGrep(grep: string): Promise<TimelineSource>;
}
