import { Args, Flags } from '@oclif/core';
import { parseDurationNs } from '../model/time.js';
import type { CheckReport } from '../check/report.js';
import { runCheck } from '../check/run.js';
import { renderCheckJson, renderCheckSummary, renderJunit } from '../ui/check.js';
import { BaseCommand } from '../util/base-command.js';
import { InputError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/fsx.js';
import { Out } from '../util/out.js';

function duration(flag: string) {
  return Flags.custom<bigint>({
    parse: async (v) => {
      const ns = parseDurationNs(v);
      if (ns === null) throw new UsageError(`--${flag} ${JSON.stringify(v)} is not a duration`, 'use e.g. 2s, 500ms, 5m');
      return ns;
    },
  });
}

export default class Check extends BaseCommand {
  static override summary = 'Pass or fail evidence bundles against a policy (for CI).';
  static override description = `Verifies each bundle (a bundle that fails custody verify is unreadable input), links its timeline as reconstruct does, and evaluates every rule of the policy: forbidden_flow, credential_misuse, credential_lifetime, unenforced_deny, unattributed_action, evidence_completeness. Prints a summary (or the report as JSON with --format json) and writes a JUnit XML report with --junit, one testcase per rule, each failure listing the offending rows' event ids and source refs.

Exit codes: 0 every rule holds, 1 at least one violation, 2 usage or unreadable input (policy file, bundle, failed verify). Reports are deterministic: the same bundles and policy give byte-identical output.`;

  static override examples = [
    { description: 'gate a CI job on the recorded evidence', command: '<%= config.bin %> <%= command.id %> evidence --rules policy.yaml --junit report.xml' },
    { description: 'the demo policy against the demo bundle (fails: the session key is used from outside)', command: '<%= config.bin %> <%= command.id %> demo/bundle --rules fixtures/demo/policy.yaml' },
    { description: 'the full report as JSON', command: '<%= config.bin %> <%= command.id %> case-42 --rules policy.yaml --format json > report.json' },
  ];

  static override strict = false;

  static override args = {
    bundles: Args.string({ description: 'Bundle directories (one or more).', required: true }),
  };

  static override flags = {
    rules: Flags.string({ char: 'r', description: 'Policy file (YAML or JSON).', required: true }),
    format: Flags.option({ options: ['text', 'json'] as const, default: 'text' as const, description: 'text: a summary; json: the full report.' })(),
    junit: Flags.string({ description: 'Also write a JUnit XML report to this file.' }),
    'skew-cloud': duration('skew-cloud')({ description: 'Clock skew allowed between cloud control-plane sources.', default: 300_000_000_000n }),
    'skew-host': duration('skew-host')({ description: 'Clock skew allowed between host-local sources.', default: 2_000_000_000n }),
  };

  async run(): Promise<CheckReport> {
    const { argv, flags } = await this.parse(Check);
    const report = await runCheck({ bundles: argv as string[], rules: flags.rules, graph: { cloudSkewNs: flags['skew-cloud'], hostSkewNs: flags['skew-host'] } });
    if (flags.junit) {
      try {
        await writeFileAtomic(flags.junit, renderJunit(report));
      } catch (err) {
        throw new InputError(`--junit ${flags.junit}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
    const out = new Out(process.stdout);
    await out.write(flags.format === 'json' ? renderCheckJson(report) : `${renderCheckSummary(report, { color: out.isTTY && !process.env.NO_COLOR })}\n`);
    await out.end();
    if (report.result === 'fail') process.exitCode = 1;
    return report;
  }
}
