import { Args, Flags } from '@oclif/core';
import { SOURCE_NAMES } from '../model/enums.js';
import { parseDurationNs } from '../model/time.js';
import { parseTimeBound, type TimelineFilter } from '../reconstruct/filter.js';
import { Timeline, type TimelineQuery } from '../reconstruct/timeline.js';
import { exportTimeline, printTimeline, type PrintFormat } from '../ui/print.js';
import type { TimelineSource } from '../ui/timeline/source.js';
import { UsageError } from '../util/errors.js';
import { escapeText } from '../util/escape.js';
import { Out } from '../util/out.js';
import { BaseCommand } from '../util/base-command.js';

const FORMATS = ['tty', 'table', 'json', 'ndjson', 'csv', 'timesketch', 'ocsf'] as const;

function duration(flag: string) {
  return Flags.custom<bigint>({
    parse: async (v) => {
      const ns = parseDurationNs(v);
      if (ns === null) throw new UsageError(`--${flag} ${JSON.stringify(v)} is not a duration`, 'use e.g. 2s, 500ms, 5m');
      return ns;
    },
  });
}

export default class Reconstruct extends BaseCommand {
  static override summary = 'Show what each action was, and the workload, identity and credential behind it.';
  static override description = `Loads one or more bundles into embedded DuckDB, links every action to the credential it presented and to whoever obtained that credential (role session → role → Kubernetes service account → pod, or → the IAM user who assumed it), and shows the timeline.

On a terminal: an interactive timeline (↑/↓ j/k, PgUp/PgDn, g/G, Enter for detail with links and the raw record, / to filter, Esc back, ? help, q quit). Otherwise, or with --format: the same rows printed as ndjson (default), json, csv or table, or exported as timesketch (JSON Lines Timesketch imports: message, datetime, timestamp_desc plus the model's columns) or ocsf (OCSF 1.5.0 events, links and identity chain in unmapped). --output writes to a file; a .parquet name writes the linked timeline as Parquet (links and identity_chain as lists of structs). Each ndjson row carries the model's columns, links[] (rule, confidence, event_id of the other side) and identity_chain[] ({id, type, via}, nearest first).

Filters are bound parameters, never SQL: --actor matches the actor or any principal behind the credential it used; --workload matches a pod (name, ns/name, uid), a service account (ns/sa or system:serviceaccount:ns:sa), a container id or a SPIFFE id, including actions made with credentials that workload obtained.`;

  static override examples = [
    { description: 'interactive timeline of a bundle', command: '<%= config.bin %> <%= command.id %> case-42' },
    { description: 'everything done with credentials that came from one pod, as NDJSON', command: '<%= config.bin %> <%= command.id %> case-42 --workload ci/build-7f9c --format ndjson' },
    { description: 'one access key, in a time window, as a table', command: '<%= config.bin %> <%= command.id %> case-42 --credential ASIAEXAMPLEKEY --since 2024-05-01T00:00:00Z --until 2024-05-02T00:00:00Z --format table' },
    { description: 'a CSV of S3 actions by anyone behind role ci-deployer', command: "<%= config.bin %> <%= command.id %> case-42 --actor role/ci-deployer --grep s3: --format csv > s3.csv" },
    { description: 'JSON Lines for a Timesketch import', command: '<%= config.bin %> <%= command.id %> case-42 --format timesketch --output case-42.jsonl' },
    { description: 'OCSF 1.5.0 events (Process/File System/Network Activity, Authentication, API Activity)', command: '<%= config.bin %> <%= command.id %> case-42 --format ocsf > case-42.ocsf.jsonl' },
    { description: 'the linked timeline as Parquet, for DuckDB, pandas or Spark', command: '<%= config.bin %> <%= command.id %> case-42 --output case-42.parquet' },
  ];

  static override strict = false;

  static override args = {
    bundles: Args.string({ description: 'Bundle directories (one or more).', required: true }),
  };

  static override flags = {
    format: Flags.option({ options: FORMATS, description: 'tty: interactive (default on a terminal); otherwise ndjson unless given.' })(),
    since: Flags.string({ description: 'Only rows at or after this time (ISO 8601, UTC if no zone) or duration ago (2h).' }),
    until: Flags.string({ description: 'Only rows at or before this time or duration ago.' }),
    actor: Flags.string({ description: 'Actor, or a principal behind the credential used (substring, case-insensitive).' }),
    credential: Flags.string({ description: 'Rows that presented or issued this credential id.' }),
    workload: Flags.string({ description: 'Pod, service account, container id or SPIFFE id (and credentials it obtained).' }),
    source: Flags.option({ options: SOURCE_NAMES as unknown as string[], multiple: true, description: 'Only these sources.' })(),
    grep: Flags.string({ description: 'Substring over action, target, actor, credential, addresses, user agent, process.' }),
    limit: Flags.integer({ min: 1, description: 'Print at most this many rows (printed formats).' }),
    output: Flags.string({ char: 'o', description: 'Write to this file instead of standard output; a .parquet name writes the linked timeline as Parquet.' }),
    'skew-cloud': duration('skew-cloud')({ description: 'Clock skew allowed between cloud control-plane sources.', default: 300_000_000_000n }),
    'skew-host': duration('skew-host')({ description: 'Clock skew allowed between host-local sources.', default: 2_000_000_000n }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Reconstruct);
    const dirs = argv as string[];
    const filter: TimelineFilter = {
      since: flags.since ? parseTimeBound('since', flags.since) : undefined,
      until: flags.until ? parseTimeBound('until', flags.until) : undefined,
      actor: flags.actor,
      credential: flags.credential,
      workload: flags.workload,
      sources: flags.source,
      grep: flags.grep,
    };
    const out = new Out(process.stdout);
    const toParquet = flags.output !== undefined && /\.parquet$/i.test(flags.output);
    if (toParquet && flags.format !== undefined) throw new UsageError(`--output ${flags.output} writes Parquet; --format ${flags.format} does not apply`, 'drop --format, or name a file that does not end in .parquet');
    if (flags.output !== undefined && flags.format === 'tty') throw new UsageError('--format tty cannot be written to a file', 'use --format ndjson, json, csv, table, timesketch or ocsf');
    const interactive = flags.output === undefined && (flags.format === 'tty' || (flags.format === undefined && out.isTTY && process.stdin.isTTY));
    if (flags.format === 'tty' && !(out.isTTY && process.stdin.isTTY)) throw new UsageError('--format tty needs a terminal on stdin and stdout', 'use --format ndjson, json, csv or table');

    // Opening a large bundle takes a moment: say so on the terminal before the timeline draws.
    if (interactive) this.logToStderr(`custody reconstruct: opening ${escapeText(dirs.join(', '))}…`);
    const timeline = await Timeline.open(dirs, { graph: { cloudSkewNs: flags['skew-cloud'], hostSkewNs: flags['skew-host'] } });
    try {
      for (const w of timeline.warnings) this.logToStderr(`custody reconstruct: warning: ${escapeText(w)}`);
      const query = await timeline.query(filter);
      if (interactive) {
        await runInteractive(timeline, query, dirs);
        return;
      }
      const format = (flags.format ?? 'ndjson') as PrintFormat;
      if (flags.output !== undefined) {
        const n = await exportTimeline(query, flags.output, toParquet ? 'parquet' : format, { limit: flags.limit });
        this.logToStderr(`custody reconstruct: ${n} row(s) written to ${escapeText(flags.output)}`);
        return;
      }
      await printTimeline(out, query, format, { limit: flags.limit, color: out.isTTY && format === 'table' });
      await out.end();
    } finally {
      timeline.close();
    }
  }
}

/** Adapts a reconstruct query to what the Ink timeline reads. */
function sourceFor(timeline: Timeline, query: TimelineQuery, title: string): TimelineSource {
  return {
    title,
    grep: query.filter.grep ?? '',
    count: () => query.count(),
    page: (offset, limit) => query.page(offset, limit),
    byId: (id) => timeline.byId(id),
    raw: (row) => timeline.raw(row),
    withGrep: async (grep) => sourceFor(timeline, await timeline.query({ ...query.filter, grep: grep || undefined }), title),
  };
}

async function runInteractive(timeline: Timeline, query: TimelineQuery, dirs: string[]): Promise<void> {
  // Ink draws only the final frame when it believes it runs in CI (is-in-ci reads CI and CONTINUOUS_INTEGRATION
  // once, when ink is first imported): the timeline would stay blank until exit. custody is interactive only with
  // a terminal on stdin and stdout, so a CI variable inherited into one (a shell on a runner, tmux in a CI job)
  // must not blank it. Nothing is spawned from here, so clearing them affects only this process.
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const [{ render }, React, { TimelineApp }] = await Promise.all([import('ink'), import('react'), import('../ui/timeline/App.js')]);
  const title = escapeText(dirs.join(', '));
  const app = render(React.createElement(TimelineApp, { source: sourceFor(timeline, query, title) }), { exitOnCtrlC: true });
  await app.waitUntilExit();
}
