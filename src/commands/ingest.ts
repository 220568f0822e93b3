import { Args, Flags } from '@oclif/core';
import { ingest, type IngestSummary } from '../ingest/ingest.js';
import { SOURCE_CHOICES } from '../ingest/sources/index.js';
import { ProgressLine } from '../ui/progress.js';
import { renderIngest } from '../ui/summary.js';
import { BaseCommand } from '../util/base-command.js';

export default class Ingest extends BaseCommand {
  static override summary = 'Add identity-plane and control-plane logs to an evidence bundle.';
  static override description = `Copies every input byte for byte into <bundle>/raw/, normalizes its records into Parquet under events/, and records both (sha256, size, rows, time range, hash chain) in manifest.json. The bundle is created when missing. The source is detected per file; --source forces one. Records that cannot be parsed are quarantined with file, line and reason; the rest is still ingested. Ingesting the same bytes twice adds nothing.

Inputs: files (.json, .jsonl, .log, and .gz of any of them), directories (walked recursively; symlinks and special files inside are skipped), quoted globs ('logs/**/*.json.gz'), or - for standard input. On a terminal, a progress line shows for inputs that take more than a second.
Sources: ${SOURCE_CHOICES.join(', ')}.`;

  static override examples = [
    { description: 'CloudTrail S3 delivery files, a whole AWSLogs/ tree', command: '<%= config.bin %> <%= command.id %> case-42 ./AWSLogs/' },
    { description: 'aws cloudtrail lookup-events output (JSON Lines) and Kubernetes audit logs', command: '<%= config.bin %> <%= command.id %> case-42 lookup-events.jsonl /var/log/kubernetes/audit.log' },
    { description: 'from standard input, forcing the source', command: 'zcat audit.log.gz | <%= config.bin %> <%= command.id %> case-42 - --source k8s_audit' },
    { description: 'fail (exit 1) if anything was quarantined', command: '<%= config.bin %> <%= command.id %> case-42 ./logs --strict' },
    {
      description: 'Envoy access logs written with a custom format (Istio and Envoy defaults are recognized without it)',
      command: `<%= config.bin %> <%= command.id %> case-42 access.log --envoy-format '[%START_TIME%] "%REQ(:METHOD)% %REQ(:PATH)%" %RESPONSE_CODE% %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_PEER_URI_SAN%'`,
    },
  ];

  static override strict = false;
  static override enableJsonFlag = true;

  static override args = {
    bundle: Args.string({ description: 'Bundle directory (created when missing).', required: true }),
    inputs: Args.string({ description: 'Files, directories, or - for stdin.', required: true }),
  };

  static override flags = {
    source: Flags.option({ options: SOURCE_CHOICES as string[], description: 'Treat every input as this source instead of detecting it.' })(),
    strict: Flags.boolean({ description: 'Exit 1 when any record was quarantined or input skipped (everything readable is still ingested).' }),
    'envoy-format': Flags.string({
      description:
        "The Envoy access log format the proxies were configured with (a format string of %OPERATOR%s, or a JSON format dictionary), for envoy logs in neither Istio's nor Envoy's default format. Tried first, then the defaults.",
      helpValue: '<format>',
    }),
  };

  async run(): Promise<IngestSummary> {
    const { args, argv, flags } = await this.parse(Ingest);
    const inputs = (argv as string[]).slice(1);
    const progress = process.stderr.isTTY && !this.jsonEnabled() ? new ProgressLine(process.stderr) : undefined;
    let summary: IngestSummary;
    try {
      summary = await ingest({ bundle: args.bundle, inputs, source: flags.source, onProgress: (p) => progress?.update(p), parserOptions: { envoyFormat: flags['envoy-format'] } });
    } finally {
      progress?.done();
    }
    if (!this.jsonEnabled()) this.log(renderIngest(summary));
    if (flags.strict && (summary.quarantined > 0 || summary.skipped.length > 0)) {
      this.logToStderr(`custody ingest: --strict: ${summary.quarantined} record(s) quarantined, ${summary.skipped.length} input(s) skipped`);
      process.exitCode = 1;
    }
    return summary;
  }
}
