import { z } from 'zod';

/** What kind of action a row describes (DESIGN.md, "Normalized event model"). */
export const categorySchema = z
  .enum(['process', 'network', 'file', 'auth', 'credential', 'api', 'policy', 'enforcement', 'gap'])
  .describe('Kind of action the row describes; gap: a window where the recorder lost events (never silent).');
export type Category = z.infer<typeof categorySchema>;

/** How the action ended, as the source reports it. */
export const outcomeSchema = z
  .enum(['success', 'failure', 'denied', 'allowed', 'unknown'])
  .describe('How the action ended.');
export type Outcome = z.infer<typeof outcomeSchema>;

/** What kind of principal acted. */
export const actorTypeSchema = z
  .enum(['human', 'service_account', 'role_session', 'workload', 'api_key', 'agent', 'unknown'])
  .describe('Kind of principal that acted.');
export type ActorType = z.infer<typeof actorTypeSchema>;

/** Confidence of a link between two evidence rows (DESIGN.md, "Linking"). */
export const confidenceSchema = z
  .enum(['exact', 'strong', 'inferred'])
  .describe('exact: shared identifier; strong: identifier plus time window; inferred: time and place only.');
export type Confidence = z.infer<typeof confidenceSchema>;

/** Names of the sources custody can read. Stable: they appear in bundle paths. */
export const SOURCE_NAMES = ['cloudtrail', 'k8s_audit', 'kernel', 'gcp_audit', 'azure_activity', 'entra_id', 'gworkspace', 'okta', 'vault', 'opa', 'spire', 'envoy', 'tetragon', 'falco'] as const;
export const sourceNameSchema = z.enum(SOURCE_NAMES).describe('Evidence source.');
export type SourceName = z.infer<typeof sourceNameSchema>;
