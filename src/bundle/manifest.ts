import { z } from 'zod';

/** Bundle format this code writes and reads. */
export const BUNDLE_FORMAT = 1;
export const MANIFEST_NAME = 'manifest.json';
export const LOCK_NAME = '.custody.lock';
/** Chain value before the first entry: 64 zero hex digits. */
export const CHAIN_GENESIS = '0'.repeat(64);

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

export const timeRangeSchema = z
  .object({
    start: z.string().describe('Earliest event time, ISO 8601 UTC.'),
    end: z.string().describe('Latest event time, ISO 8601 UTC.'),
  })
  .describe('Time span the file covers.');
export type TimeRange = z.infer<typeof timeRangeSchema>;

export const entryKindSchema = z
  .enum(['raw', 'events', 'kernel', 'quarantine', 'snapshot', 'gaps', 'facts'])
  .describe('raw: input bytes as received; events: normalized Parquet; kernel: recorder segment; quarantine: unparsable records; snapshot: attribution tables; gaps: recorder drop windows; facts: the identity-graph rows of one events part (derived, NDJSON).');
export type EntryKind = z.infer<typeof entryKindSchema>;

export const producerSchema = z
  .looseObject({
    command: z.string().describe('custody command that wrote the file (ingest, record).'),
    run_id: z.string().describe('Id of the run that wrote it; files of one run share it.'),
    tool_version: z.string().describe('custody version.'),
    source: z.string().optional().describe('Evidence source the file holds.'),
    input: z.string().optional().describe('The input as the user named it (path, or - for stdin).'),
    derived_from: z.array(z.string()).optional().describe('Bundle paths of the raw files this file was derived from.'),
  })
  .describe('What produced a file.');
export type Producer = z.infer<typeof producerSchema>;

export const entrySchema = z
  .looseObject({
    path: z.string().describe('Relative path inside the bundle, / separated.'),
    kind: entryKindSchema,
    sha256: hex64.describe('sha256 of the file bytes.'),
    size: z.number().int().nonnegative().describe('File size in bytes.'),
    rows: z.number().int().nonnegative().nullable().describe('Rows or records in the file, where it has rows.'),
    schema_version: z.number().int().nullable().describe('Schema version of the rows, where it has rows.'),
    producer: producerSchema,
    time_range: timeRangeSchema.nullable(),
    added: z.string().describe('When the entry was added, ISO 8601 UTC.'),
    chain: hex64.describe('sha256(previous chain ‖ sha256 ‖ path): the hash chain over all entries.'),
  })
  .describe('One file of the bundle.');
export type Entry = z.infer<typeof entrySchema>;

export const hostSchema = z
  .looseObject({
    name: z.string().describe('Host name.'),
    boot_id: z.string().optional().describe('Kernel boot id (/proc/sys/kernel/random/boot_id).'),
    kernel: z.string().optional().describe('Kernel release.'),
  })
  .describe('A host that contributed kernel evidence.');

export const manifestSchema = z
  .looseObject({
    format: z.literal(BUNDLE_FORMAT).describe('Bundle format version.'),
    tool: z.looseObject({ name: z.literal('custody'), version: z.string() }).describe('Tool that created the bundle.'),
    bundle_id: z.string().describe('Random id given at creation.'),
    created: z.string().describe('Creation time, ISO 8601 UTC.'),
    updated: z.string().describe('Time of the last committed change, ISO 8601 UTC.'),
    hosts: z.array(hostSchema).describe('Hosts that recorded kernel evidence into the bundle.'),
    time_range: timeRangeSchema.nullable().describe('Span of all event files.'),
    entries: z.array(entrySchema).describe('Every file of the bundle, in the order they were added.'),
    drops: z
      .looseObject({ total: z.number().int().nonnegative(), by_kind: z.record(z.string(), z.number().int().nonnegative()) })
      .describe('Kernel events lost by the recorder, by kind; never silent.'),
    chain_head: hex64.describe('Chain value after the last entry.'),
  })
  .describe('manifest.json of an evidence bundle (format 1).');
export type Manifest = z.infer<typeof manifestSchema>;
