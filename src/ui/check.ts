import chalk, { Chalk } from 'chalk';
import type { CheckReport, RuleResult, Violation } from '../check/report.js';
import { escapeText, safeJsonStringify } from '../util/escape.js';

/**
 * Renderings of a `custody check` report: the human summary, JSON, and JUnit XML. Evidence
 * strings (actions, targets, messages) are escaped for terminals; in XML additionally for XML.
 * Nothing here reads a clock: the same report renders to the same bytes.
 */

/** How many violations per rule the human summary lists (JSON and JUnit list all). */
export const SUMMARY_VIOLATIONS = 10;

function e(s: string | null | undefined): string {
  return escapeText(s ?? '');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function where(v: Violation): string {
  if (!v.source_ref) return '';
  return `${e(v.bundle ?? '')}${v.bundle ? '/' : ''}${e(v.source_ref)}`;
}

function violationLines(v: Violation): string[] {
  const lines: string[] = [];
  const head = [v.time, v.source, v.action, v.target].filter((x): x is string => Boolean(x)).map(e).join('  ');
  if (head) lines.push(head);
  lines.push(`${head ? '  ' : ''}${e(v.message)}`);
  if (v.event_id) lines.push(`  event ${v.event_id}  ${where(v)}`);
  for (const r of v.related) lines.push(`  ${r.role}: event ${r.event_id}${r.source_ref ? `  ${e(r.bundle ?? '')}${r.bundle ? '/' : ''}${e(r.source_ref)}` : ''}`);
  return lines;
}

export function renderCheckSummary(report: CheckReport, opts: { color?: boolean } = {}): string {
  const c = opts.color ? chalk : new Chalk({ level: 0 });
  const lines: string[] = [];
  const width = Math.max(...report.rules.map((r) => r.name.length), 4);
  for (const r of report.rules) {
    const status = r.status === 'fail' ? c.red.bold('FAIL') : c.green('ok  ');
    const detail = r.status === 'fail' ? plural(r.violations.length, 'violation') : `${plural(r.examined, 'row')} examined`;
    lines.push(`${status}  ${e(r.name).padEnd(width)}  ${r.kind} · ${r.severity} · ${detail}`);
    if (r.status === 'fail') {
      for (const v of r.violations.slice(0, SUMMARY_VIOLATIONS)) for (const l of violationLines(v)) lines.push(`        ${l}`);
      if (r.violations.length > SUMMARY_VIOLATIONS) lines.push(`        … and ${r.violations.length - SUMMARY_VIOLATIONS} more (--format json or --junit list all)`);
    }
  }
  lines.push('');
  const s = report.summary;
  const verdict = report.result === 'pass' ? c.green.bold('PASS') : c.red.bold('FAIL');
  const what = report.result === 'pass' ? `all ${plural(s.rules, 'rule')} hold` : `${s.failed} of ${plural(s.rules, 'rule')} violated (${plural(s.violations, 'violation')})`;
  lines.push(`${verdict}: ${what}; policy ${e(report.policy.file)}; ${report.bundles.length === 1 ? 'bundle' : 'bundles'} ${report.bundles.map((b) => e(b.dir)).join(', ')} (intact)`);
  return lines.join('\n');
}

/** The report as JSON: keys in the report's fixed order, two-space indent, terminal-safe escapes. */
export function renderCheckJson(report: CheckReport): string {
  return `${safeJsonStringify(report, 2)}\n`;
}

// ---------------------------------------------------------------- JUnit

// XML 1.0 allows only these characters (https://www.w3.org/TR/xml/#charsets); anything else is
// written as a visible \uXXXX escape (after escapeText has made control characters visible).
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

export function xmlText(s: string): string {
  return s
    .replace(NOT_XML_CHAR, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;').replace(/\r/g, '&#13;');
}

function failureText(r: RuleResult): string {
  const out: string[] = [];
  if (r.description) out.push(e(r.description), '');
  for (const v of r.violations) {
    out.push(`${e(v.message)}`);
    if (v.event_id) {
      out.push(`  event_id: ${v.event_id}`);
      out.push(`  time: ${e(v.time)}  source: ${e(v.source)}`);
      out.push(`  source_ref: ${where(v)}`);
    }
    for (const rel of v.related) out.push(`  ${rel.role}: ${rel.event_id}${rel.source_ref ? ` at ${e(rel.bundle ?? '')}${rel.bundle ? '/' : ''}${e(rel.source_ref)}` : ''}`);
  }
  return out.join('\n');
}

/**
 * JUnit XML as Jenkins (junit-10.xsd of the xunit plugin, which the JUnit plugin also reads) and
 * GitLab read it: one <testsuite> for the policy, one <testcase> per rule (classname
 * custody.<kind>, name = rule name), a <failure> per violated rule whose text lists every
 * offending row's event id and source ref. GitLab shows the failure text, not its message
 * attribute, so the text carries everything. Times are 0: a check is not timed, and the
 * report stays byte-identical across runs.
 */
export function renderJunit(report: CheckReport): string {
  const s = report.summary;
  const lines: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  lines.push(`<testsuites name="custody check" tests="${s.rules}" failures="${s.failed}" errors="0" time="0">`);
  lines.push(`  <testsuite name="${xmlAttr(`custody check ${report.policy.file}`)}" tests="${s.rules}" failures="${s.failed}" errors="0" skipped="0" time="0">`);
  lines.push('    <properties>');
  const props: [string, string][] = [
    ['custody.version', report.tool.version],
    ['policy.file', report.policy.file],
    ['policy.sha256', report.policy.sha256],
  ];
  report.bundles.forEach((b, i) => {
    props.push([`bundle.${i}`, b.dir], [`bundle.${i}.chain_head`, b.chain_head]);
  });
  for (const [k, v] of props) lines.push(`      <property name="${xmlAttr(k)}" value="${xmlAttr(escapeText(v))}"/>`);
  lines.push('    </properties>');
  for (const r of report.rules) {
    const open = `    <testcase name="${xmlAttr(e(r.name))}" classname="custody.${r.kind}" time="0"`;
    if (r.status === 'pass') {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    const message = `${plural(r.violations.length, 'violation')} of ${r.kind} rule ${e(r.name)} (severity ${r.severity})`;
    lines.push(`      <failure message="${xmlAttr(message)}" type="${r.kind}">${xmlText(failureText(r))}</failure>`);
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>');
  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}
