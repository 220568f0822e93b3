import { verifyBundle } from '../bundle/verify.js';
import type { GraphOptions } from '../reconstruct/graph.js';
import { Timeline } from '../reconstruct/timeline.js';
import { InputError } from '../util/errors.js';
import { sha256Hex } from '../util/hash.js';
import { TOOL_VERSION } from '../util/version.js';
import { evaluateRules, type EvalContext } from './evaluate.js';
import type { BundleRef, CheckReport } from './report.js';
import { loadPolicy } from './rules.js';

export interface CheckOptions {
  bundles: readonly string[];
  /** The policy file (YAML or JSON). */
  rules: string;
  graph?: GraphOptions;
}

/**
 * `custody check`: proves each bundle intact (a failed verify is unreadable input, exit 2),
 * opens the linked timeline over all of them, and evaluates every rule of the policy in order.
 * Evidence that does not load (a Parquet file named by an intact manifest but unreadable) is
 * an input error too: a CI gate must never pass on evidence it silently skipped.
 */
export async function runCheck(opts: CheckOptions): Promise<CheckReport> {
  const policy = await loadPolicy(opts.rules);
  const refs: BundleRef[] = [];
  let quarantined = 0;
  const drops = { total: 0, by_kind: {} as Record<string, number> };
  for (const dir of opts.bundles) {
    const v = await verifyBundle(dir);
    if (!v.ok) {
      const first = v.problems[0]!;
      throw new InputError(
        `${dir}: the bundle failed verification (${v.problems.length} problem(s), first: ${first.kind} ${first.path}: ${first.detail})`,
        `run custody verify ${dir} for the full list; check only reads intact evidence`,
      );
    }
    refs.push({ dir, chain_head: v.chain_head, entries: v.entries });
  }
  const timeline = await Timeline.open(opts.bundles, { graph: opts.graph });
  try {
    if (timeline.warnings.length > 0) throw new InputError(`evidence could not be loaded: ${timeline.warnings[0]}${timeline.warnings.length > 1 ? ` (and ${timeline.warnings.length - 1} more)` : ''}`, 'run custody verify on the bundle');
    for (const b of timeline.bundles) {
      for (const e of b.manifest.entries) if (e.kind === 'quarantine') quarantined += e.rows ?? 0;
      drops.total += b.manifest.drops.total;
      for (const [k, n] of Object.entries(b.manifest.drops.by_kind)) drops.by_kind[k] = (drops.by_kind[k] ?? 0) + n;
    }
    const ctx: EvalContext = { timeline, quarantined, drops };
    const rules = await evaluateRules(ctx, policy.policy.rules);
    const failed = rules.filter((r) => r.status === 'fail').length;
    return {
      report: 'custody-check',
      format: 1,
      tool: { name: 'custody', version: TOOL_VERSION },
      policy: { file: policy.file, sha256: sha256Hex(policy.bytes) },
      bundles: refs,
      result: failed > 0 ? 'fail' : 'pass',
      summary: { rules: rules.length, passed: rules.length - failed, failed, violations: rules.reduce((n, r) => n + r.violations.length, 0) },
      rules,
    };
  } finally {
    timeline.close();
  }
}
