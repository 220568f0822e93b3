import type { Confidence } from '../model/enums.js';
import type { Db } from '../util/duckdb.js';
import { credentialMaterialSql } from './credentials.js';
import type { GraphOptions, Link } from './graph.js';

/**
 * Links that join large sets of rows, computed in DuckDB once per timeline into the table
 * `correlated_links(a, b, rule, confidence, material)` of the in-memory database (a's link to b):
 *
 *  - rule 2, process → credential material: a kernel connect row and the kernel opens of
 *    credential paths before it (within the window, same boot, same cgroup) by the same process or
 *    one of its ancestors (strong), or by a child or grandchild of the connecting process's parent
 *    — `cat token` then `curl` in one shell — (inferred). Per path, the nearest open. The same
 *    cgroup keeps lineage inside one workload: sshd's read of /etc/shadow is not its login
 *    session's, nor is one systemd service's read another's. `material` names what the path
 *    holds (credentials.ts). Links both ways.
 *  - rule 4, kernel flow ↔ mesh log: a kernel network row (custody's recorder, or Tetragon) and an Envoy/Istio access-log row with
 *    the same source address and port (the same socket), the mesh row no earlier than the kernel
 *    row (minus host skew) and within the connection window; strong when the destination matches
 *    too. Links both ways.
 *  - rule 6, decision ↔ execution: a deny (OPA decision, mesh RBAC/ext_authz, Kubernetes forbid,
 *    Entra Conditional Access) followed, within the window, by the same action succeeding in
 *    other evidence — same operation (HTTP method and path, or Kubernetes verb, resource and
 *    object, or sign-in to the same app), same caller (SPIFFE id, else actor, else source
 *    address), same destination host whatever the port — is an `enforcement-gap` (linked both
 *    ways); a deny with no such success is `enforced` (linked to the row that enforced it: the
 *    mesh's own denial of the same request, or itself).
 */

export const CORRELATION_RULES = {
  credentialMaterial: 'credential-material',
  kernelMeshFlow: 'kernel-mesh-flow',
  enforcementGap: 'enforcement-gap',
  enforced: 'enforced',
} as const;

/** How long after a deny a success of the same action still counts as getting around it. */
const GAP_WINDOW_NS = 3_600_000_000_000n;
/** How long after reading credential material a connection still counts as possibly using it. */
const MATERIAL_WINDOW_NS = 3_600_000_000_000n;
/** How many parent steps rule 2 follows up the process tree. */
const MAX_ANCESTRY = 8;
/** How many steps below the connecting process's parent an opener may be and still count as inferred (a sibling, or a sibling's child). */
const MAX_COUSIN_DEPTH = 2;
/** How long a connection seen by the kernel may carry requests the mesh logs. */
const FLOW_WINDOW_NS = 600_000_000_000n;

/**
 * A normalized "what was attempted" key per row: `http <METHOD> <path>` for mesh and OPA rows,
 * `k8s <verb> <resource> <namespace>/<name>` for Kubernetes, `signin <app>` for sign-ins.
 * Paths lose their query string.
 */
const OP_SQL = `CASE
    WHEN source = 'envoy' AND action LIKE 'HTTP % %' THEN 'http ' || split_part(substr(action, 6), '?', 1)
    WHEN source = 'opa' AND regexp_matches(coalesce(target, ''), '^[A-Z]+ /') THEN 'http ' || split_part(target, '?', 1)
    WHEN source = 'k8s_audit' THEN 'k8s ' || action || ' ' || coalesce(target, '')
    WHEN category = 'auth' AND source IN ('entra_id', 'okta') THEN 'signin ' || coalesce(target, '')
  END`;

/** The only sources OP_SQL gives an operation to: rule 6 never needs another source's rows. */
const OP_SOURCES = `'envoy', 'opa', 'k8s_audit', 'entra_id', 'okta'`;

/** The caller as rule 6 compares it: workload identity first. */
const CALLER_SQL = `coalesce(spiffe_id, actor_id, src_ip)`;

const DENY_SQL = `outcome = 'denied' AND (category IN ('policy', 'enforcement') OR source IN ('k8s_audit', 'entra_id'))`;

/**
 * Computes rules 2, 4 and 6 into the table `correlated_links`. Runs on a connection of its own
 * (`db.conn` may be a second connection to the same database) so it can overlap with the
 * identity graph's JavaScript work; its result is an ordinary table, visible to every connection.
 */
export async function buildCorrelations(db: Pick<Db, 'conn'>, opts: GraphOptions): Promise<void> {
  const skew = opts.hostSkewNs;
  const cloudSkew = opts.cloudSkewNs;
  await db.conn.run(`CREATE OR REPLACE TABLE correlated_links (a VARCHAR, b VARCHAR, rule VARCHAR, confidence VARCHAR, material VARCHAR)`);

  // rule 2: credential opens by the connecting process, its ancestors, or its parent's other children.
  // Connects, opens and their ancestry go to temp tables first (a recursive CTE referenced from
  // several joins is re-run per reference); then, per connect, path and opener (or family of
  // openers), an ASOF join finds the nearest earlier open: a loop of `cat token; curl` stays
  // linear, not connects × opens.
  await db.conn.run(
    `CREATE OR REPLACE TEMP TABLE rule2_c AS
       SELECT event_id, epoch_ns(time) AS t, process_key, cgroup_id FROM events
       WHERE source = 'kernel' AND category = 'network' AND action = 'connect' AND process_key IS NOT NULL AND cgroup_id IS NOT NULL;
     CREATE OR REPLACE TEMP TABLE rule2_o AS
       SELECT event_id, epoch_ns(time) AS t, process_key, cgroup_id, target FROM events
       WHERE source = 'kernel' AND category = 'file' AND action = 'open' AND target IS NOT NULL
         AND process_key IS NOT NULL AND cgroup_id IS NOT NULL AND coalesce(outcome, 'unknown') <> 'failure'`,
  );
  await db.conn.run(
    `CREATE OR REPLACE TEMP TABLE rule2_anc AS
     WITH RECURSIVE
          -- a process's parent as its first row names it (a reparented orphan's later rows name the reaper)
          procs AS (SELECT process_key, arg_min(parent_key, time) AS parent_key FROM events
                    WHERE source = 'kernel' AND process_key IS NOT NULL GROUP BY process_key),
          -- ancestry of every process that opened or connected, within one boot (process keys start with the boot id)
          anc(key, ancestor, depth) AS (
            SELECT process_key, process_key, 0 FROM (SELECT process_key FROM rule2_c UNION SELECT process_key FROM rule2_o)
            UNION ALL
            SELECT anc.key, p.parent_key, anc.depth + 1 FROM anc JOIN procs p ON p.process_key = anc.ancestor
            WHERE anc.depth < $1 AND p.parent_key IS NOT NULL AND split_part(p.parent_key, ':', 1) = split_part(anc.key, ':', 1))
     SELECT * FROM anc`,
    [MAX_ANCESTRY],
  );
  const material = credentialMaterialSql('target', 3);
  await db.conn.run(
    `INSERT INTO correlated_links
     WITH -- strong: the connecting process and its ancestors, each path they opened in its cgroup
          opened AS (SELECT DISTINCT process_key, cgroup_id, target FROM rule2_o),
          sl AS (SELECT c.event_id AS cid, c.t, p.process_key AS opener, c.cgroup_id, p.target
                 FROM rule2_c c JOIN rule2_anc a ON a.key = c.process_key JOIN opened p ON p.process_key = a.ancestor AND p.cgroup_id = c.cgroup_id),
          strong AS (SELECT sl.cid, sl.t AS ct, o.event_id AS oid, o.t AS ot, o.target, 0 AS rank
                     FROM sl ASOF JOIN rule2_o o ON o.process_key = sl.opener AND o.cgroup_id = sl.cgroup_id AND o.target = sl.target AND sl.t >= o.t),
          -- inferred: opens by a child or grandchild of the connecting process's parent (its family)
          fam AS (SELECT o.event_id, o.t, o.cgroup_id, o.target, a.ancestor AS family
                  FROM rule2_o o JOIN rule2_anc a ON a.key = o.process_key AND a.depth BETWEEN 1 AND $2),
          il AS (SELECT c.event_id AS cid, c.t, f.family, c.cgroup_id, f.target
                 FROM rule2_c c JOIN rule2_anc a ON a.key = c.process_key AND a.depth = 1
                        JOIN (SELECT DISTINCT family, cgroup_id, target FROM fam) f ON f.family = a.ancestor AND f.cgroup_id = c.cgroup_id),
          inferred AS (SELECT il.cid, il.t AS ct, fam.event_id AS oid, fam.t AS ot, fam.target, 1 AS rank
                       FROM il ASOF JOIN fam ON fam.family = il.family AND fam.cgroup_id = il.cgroup_id AND fam.target = il.target AND il.t >= fam.t),
          best AS (SELECT cid, oid, rank, target FROM (SELECT * FROM strong UNION ALL SELECT * FROM inferred)
                   WHERE ot >= ct - $1
                   QUALIFY row_number() OVER (PARTITION BY cid, target ORDER BY rank, ot DESC, oid) = 1),
          typed AS (SELECT cid, oid, CASE rank WHEN 0 THEN 'strong' ELSE 'inferred' END AS confidence, ${material.sql} AS material FROM best)
     SELECT cid, oid, '${CORRELATION_RULES.credentialMaterial}', confidence, material FROM typed
     UNION ALL SELECT oid, cid, '${CORRELATION_RULES.credentialMaterial}', confidence, material FROM typed`,
    [MATERIAL_WINDOW_NS, MAX_COUSIN_DEPTH, ...material.params],
  );
  await db.conn.run('DROP TABLE rule2_c; DROP TABLE rule2_o; DROP TABLE rule2_anc');

  // rule 4: the same socket seen by the kernel and by the mesh.
  await db.conn.run(
    `INSERT INTO correlated_links (a, b, rule, confidence)
     WITH k AS (SELECT event_id, epoch_ns(time) AS t, src_ip, src_port, dst_ip, dst_port FROM events
                WHERE source IN ('kernel', 'tetragon') AND category = 'network' AND src_ip IS NOT NULL AND src_port IS NOT NULL),
          m AS (SELECT event_id, epoch_ns(time) AS t, src_ip, src_port, dst_ip, dst_port FROM events
                WHERE source = 'envoy' AND src_ip IS NOT NULL AND src_port IS NOT NULL),
          j AS (SELECT k.event_id AS kid, m.event_id AS mid,
                       CASE WHEN k.dst_ip = m.dst_ip AND k.dst_port = m.dst_port THEN 'strong' ELSE 'inferred' END AS confidence
                FROM k JOIN m ON k.src_ip = m.src_ip AND k.src_port = m.src_port
                WHERE m.t >= k.t - $1 AND m.t <= k.t + $2)
     SELECT kid, mid, '${CORRELATION_RULES.kernelMeshFlow}', confidence FROM j
     UNION ALL SELECT mid, kid, '${CORRELATION_RULES.kernelMeshFlow}', confidence FROM j`,
    [skew, FLOW_WINDOW_NS + skew],
  );

  // rule 6: denies, and what got around them.
  await db.conn.run(
    `INSERT INTO correlated_links (a, b, rule, confidence)
     WITH keyed AS (SELECT event_id, epoch_ns(time) AS t, source, outcome, category, ${OP_SQL} AS op, ${CALLER_SQL} AS caller,
                           dst_ip, src_ip, k8s_pod, k8s_namespace, source_event_id, (${DENY_SQL}) AS is_deny
                    FROM events WHERE source IN (${OP_SOURCES})),
          d AS (SELECT * FROM keyed WHERE is_deny AND op IS NOT NULL),
          s AS (SELECT * FROM keyed WHERE outcome IN ('success', 'allowed') AND op IS NOT NULL AND NOT is_deny),
          gap AS (SELECT DISTINCT d.event_id AS did, s.event_id AS sid FROM d JOIN s ON d.op = s.op
                  WHERE s.t >= d.t - $1 AND s.t <= d.t + $2
                    AND (d.caller = s.caller OR (d.k8s_pod IS NOT NULL AND d.k8s_pod = s.k8s_pod AND d.k8s_namespace = s.k8s_namespace))
                    AND (d.dst_ip IS NULL OR s.dst_ip IS NULL OR d.dst_ip = s.dst_ip)
                    -- a decision point's own "allowed" record of a later, different request is not execution
                    AND NOT (s.source = 'opa' AND s.outcome = 'allowed')),
          enforced AS (SELECT d.event_id AS did,
                              coalesce((SELECT e.event_id FROM keyed e
                                        WHERE e.is_deny AND e.event_id <> d.event_id AND e.source <> d.source AND e.op = d.op
                                          AND (e.caller = d.caller OR (e.source_event_id IS NOT NULL AND e.source_event_id = d.source_event_id))
                                          AND abs(e.t - d.t) <= $3
                                        ORDER BY abs(e.t - d.t), e.event_id LIMIT 1), d.event_id) AS eid
                       FROM d WHERE d.event_id NOT IN (SELECT did FROM gap))
     SELECT did, sid, '${CORRELATION_RULES.enforcementGap}', 'strong' FROM gap
     UNION ALL SELECT sid, did, '${CORRELATION_RULES.enforcementGap}', 'strong' FROM gap
     UNION ALL SELECT did, eid, '${CORRELATION_RULES.enforced}', CASE WHEN did = eid THEN 'exact' ELSE 'strong' END FROM enforced`,
    [cloudSkew, GAP_WINDOW_NS, skew],
  );
}

/** The correlated links of these rows, by event id (one query per page or batch). */
export async function correlatedLinks(db: Db, eventIds: readonly string[]): Promise<Map<string, Link[]>> {
  if (eventIds.length === 0) return new Map();
  const { LIST, VARCHAR, listValue } = await import('@duckdb/node-api');
  const reader = await db.conn.runAndReadAll(
    `SELECT a, b, rule, confidence, material FROM correlated_links WHERE list_contains($1, a) ORDER BY a, rule, b`,
    [listValue([...eventIds])],
    [LIST(VARCHAR)],
  );
  return linksByRow(reader.getRows());
}

/** Rows of `SELECT a, b, rule, confidence, material FROM correlated_links …` as links by event id, in order. */
export function linksByRow(rows: readonly unknown[][]): Map<string, Link[]> {
  const out = new Map<string, Link[]>();
  for (const [a, b, rule, confidence, material] of rows as [string, string, string, Confidence, string | null][]) {
    const list = out.get(a) ?? [];
    list.push(material ? { rule, confidence, event_id: b, material } : { rule, confidence, event_id: b });
    out.set(a, list);
  }
  return out;
}
