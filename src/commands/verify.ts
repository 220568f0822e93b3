import { Args, Flags } from '@oclif/core';
import { verifyBundle, type VerifyReport } from '../bundle/verify.js';
import { renderVerify } from '../ui/summary.js';
import { BaseCommand } from '../util/base-command.js';

export default class Verify extends BaseCommand {
  static override summary = 'Prove an evidence bundle is intact.';
  static override description = `Recomputes the sha256 of every file the manifest names and the manifest's hash chain, and lists files on disk the manifest does not name. Exits 0 when everything matches; otherwise exits 1 and names every modified, missing or unlisted file. Record the printed chain head out of band (a ticket, a signed note) and pass it to --expect-head later: that also catches a rewritten manifest.`;

  static override examples = [
    { description: 'check a bundle', command: '<%= config.bin %> <%= command.id %> case-42' },
    { description: 'also require the chain head recorded when the bundle was handed over', command: '<%= config.bin %> <%= command.id %> case-42 --expect-head 3f7a…' },
    { description: 'machine-readable report', command: '<%= config.bin %> <%= command.id %> case-42 --json' },
  ];

  static override enableJsonFlag = true;

  static override args = {
    bundle: Args.string({ description: 'Bundle directory.', required: true }),
  };

  static override flags = {
    'expect-head': Flags.string({ description: 'Chain head (64 hex digits) the manifest must end with.' }),
  };

  async run(): Promise<VerifyReport> {
    const { args, flags } = await this.parse(Verify);
    const report = await verifyBundle(args.bundle, { expectHead: flags['expect-head'] });
    if (!this.jsonEnabled()) this.log(renderVerify(report));
    if (!report.ok) process.exitCode = 1;
    return report;
  }
}
