/**
 * DESIGN.md rule 4 on real kernel evidence: a connection recorded by `custody record` and the
 * access-log line a mesh sidecar writes for the same socket (Istio's default format, the client's
 * address and ephemeral port as DOWNSTREAM_REMOTE_ADDRESS) are linked `kernel-mesh-flow`; a line
 * for another client port is not. Root and the built recorder, like test/record/record.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { recorderProblems } from '../../src/record/native.js';
import { cli } from '../helpers/cli.js';
import { useTmpDir } from '../helpers/tmp.js';

const REQUIRE_BPF = process.env.CUSTODY_REQUIRE_BPF === '1';
const problems = recorderProblems();
if (problems.length > 0 && !REQUIRE_BPF) console.warn(`test/record/mesh-flow.test.ts skipped: ${problems.join('; ')}`);

interface Row {
  event_id: string;
  source: string;
  category: string;
  action: string;
  src_port: number | null;
  dst_port: number | null;
  links: { rule: string; confidence: string; event_id: string }[];
}

/** One line of Istio's default access log format for a request on the given sockets. */
function istioLine(time: Date, serverPort: number, clientPort: number, path: string): string {
  return `[${time.toISOString()}] "GET ${path} HTTP/1.1" 200 - via_upstream - "-" 0 2 3 2 "-" "curl/8.5.0" "3f1c2b7a-9d4e-4c1a-8b2f-6e5d4c3b2a19" "vault.vault.svc.cluster.local:${serverPort}" "127.0.0.1:${serverPort}" inbound|${serverPort}|| 127.0.0.6:40230 127.0.0.1:${serverPort} 127.0.0.1:${clientPort} outbound_.${serverPort}_._.vault.vault.svc.cluster.local spiffe://example.org/ns/ci/sa/deployer default`;
}

describe.skipIf(problems.length > 0 && !REQUIRE_BPF)('kernel flow ↔ mesh log (rule 4) on a recorded connection', () => {
  const tmp = useTmpDir();

  it('links the recorded connection to the sidecar line for its socket, and only that line', async () => {
    expect(problems, 'CUSTODY_REQUIRE_BPF=1 but the recorder cannot run here').toEqual([]);
    const peers: number[] = [];
    const server = createServer((s: Socket) => {
      peers.push(s.remotePort!);
      s.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    try {
      const dir = tmp();
      const bundle = join(dir, 'b');
      const rec = cli(['record', '-o', bundle, '--events', 'net', '--', 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}; exec 3>&-`]);
      expect(rec.status, rec.stderr).toBe(0);
      // The kernel completed the handshake while the CLI ran; this process accepts it now.
      for (let i = 0; i < 100 && peers.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(peers).toHaveLength(1);
      const client = peers[0]!;
      const log = join(dir, 'istio-proxy.log');
      const now = new Date();
      writeFileSync(log, `${istioLine(now, port, client, '/v1/secret/data/ci')}\n${istioLine(now, port, client === 65535 ? 65534 : client + 1, '/v1/other-client')}\n`);
      expect(cli(['ingest', bundle, log, '--source', 'envoy']).status).toBe(0);

      const out = cli(['reconstruct', bundle, '--format', 'ndjson']);
      expect(out.status, out.stderr).toBe(0);
      const rows = out.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
      const mesh = rows.filter((r) => r.source === 'envoy');
      expect(mesh).toHaveLength(2);
      const [ours, other] = [mesh.find((m) => m.src_port === client)!, mesh.find((m) => m.src_port !== client)!];
      const kernel = rows.filter((r) => r.source === 'kernel' && r.category === 'network' && r.src_port === client);
      expect(kernel.length, 'the kernel saw the client socket').toBeGreaterThan(0);
      for (const k of kernel) {
        expect(k.links).toContainEqual({ rule: 'kernel-mesh-flow', confidence: 'strong', event_id: ours.event_id });
        expect(k.links.map((l) => l.event_id)).not.toContain(other.event_id);
      }
      expect(ours.links.filter((l) => l.rule === 'kernel-mesh-flow').map((l) => l.event_id).sort()).toEqual(kernel.map((k) => k.event_id).sort());
      expect(other.links.filter((l) => l.rule === 'kernel-mesh-flow')).toEqual([]);
    } finally {
      server.close();
    }
  });
});
