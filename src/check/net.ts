import { BlockList, isIP } from 'node:net';

/**
 * Addresses, networks and destinations as policy rules name them. Parsing returns a reason
 * instead of throwing, so the rule schema can report the rule and field that is wrong.
 * CIDR arithmetic is Node's (`net.BlockList`), IPv4 and IPv6.
 */

export interface Cidr {
  text: string;
  family: 'ipv4' | 'ipv6';
  address: string;
  prefix: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const address = slash === -1 ? t : t.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `${JSON.stringify(text)} is not an IP address or CIDR`;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return `${JSON.stringify(text)}: prefix length must be 0-${max}`;
    prefix = Number(p);
  }
  return { text: t, family: family === 4 ? 'ipv4' : 'ipv6', address, prefix };
}

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as kernels report v4 peers of v6 sockets) as IPv4. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Whether a string is an IP address (after normalization). */
export function ipFamily(ip: string): 'ipv4' | 'ipv6' | null {
  const f = isIP(normalizeIp(ip));
  return f === 4 ? 'ipv4' : f === 6 ? 'ipv6' : null;
}

/** A set of networks, matched by Node's BlockList. */
export class NetSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) this.list.addSubnet(c.address, c.prefix, c.family);
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    const a = normalizeIp(ip);
    const fam = ipFamily(a);
    if (!fam) return false;
    return this.list.check(a, fam);
  }
}

/** A destination a workload must not reach: a network (with an optional port), a host (with an optional port), or a SPIFFE id. */
export type Destination =
  | { kind: 'cidr'; text: string; cidr: Cidr; port: number | null }
  | { kind: 'host'; text: string; host: string; port: number | null }
  | { kind: 'any'; text: string; port: number }
  | { kind: 'spiffe'; text: string; id: string; prefix: boolean };

function parsePort(p: string, whole: string): number | null | string {
  if (p === '*') return null;
  if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return `${JSON.stringify(whole)}: port must be 1-65535 or *`;
  return Number(p);
}

const HOST_RE = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i;

/**
 * Parses one `to:` entry of a forbidden-flow rule:
 * `spiffe://td/ns/db/sa/db` (exact) or `spiffe://td/ns/db/*` (prefix); `169.254.169.254`,
 * `10.0.0.0/8`, `10.0.0.0/8:5432`, `[fd00::/8]:443`; `vault.internal:8200`, `*.example.com`;
 * `*:22` (any address, that port).
 */
export function parseDestination(text: string): Destination | string {
  const t = text.trim();
  if (t.length === 0) return 'empty destination';
  if (/^spiffe:\/\//i.test(t)) {
    if (!/^spiffe:\/\/[a-z0-9._-]+(\/[^\s]*)?$/i.test(t)) return `${JSON.stringify(text)} is not a SPIFFE id (spiffe://trust-domain/path)`;
    if (t.endsWith('/*')) return { kind: 'spiffe', text: t, id: t.slice(0, -1), prefix: true };
    if (t.includes('*')) return `${JSON.stringify(text)}: a SPIFFE id may only end with /* (prefix match)`;
    return { kind: 'spiffe', text: t, id: t, prefix: false };
  }
  let addr = t;
  let portText: string | null = null;
  const bracket = /^\[([^\]]+)\](?::(.+))?$/.exec(t);
  if (bracket) {
    addr = bracket[1]!;
    portText = bracket[2] ?? null;
  } else if (isIP(t.split('/')[0]!) === 6) {
    addr = t;
  } else {
    const colon = t.lastIndexOf(':');
    if (colon !== -1) {
      addr = t.slice(0, colon);
      portText = t.slice(colon + 1);
    }
  }
  let port: number | null = null;
  if (portText !== null) {
    const p = parsePort(portText, text);
    if (typeof p === 'string') return p;
    port = p;
  }
  if (addr === '*') {
    if (port === null) return `${JSON.stringify(text)}: "*" needs a port (e.g. *:22)`;
    return { kind: 'any', text: t, port };
  }
  if (isIP(addr.split('/')[0]!) !== 0) {
    const c = parseCidr(addr);
    if (typeof c === 'string') return c;
    return { kind: 'cidr', text: t, cidr: c, port };
  }
  if (!HOST_RE.test(addr)) return `${JSON.stringify(text)} is not a CIDR, host[:port] or spiffe:// id`;
  return { kind: 'host', text: t, host: addr.toLowerCase().replace(/\.$/, ''), port };
}

/** Whether a host name matches a rule's host (`*.example.com` matches any subdomain, not the apex). */
export function hostMatches(pattern: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) return h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1;
  return h === pattern;
}

/** What a network row says about where it went. */
export interface FlowFacts {
  ip: string | null;
  port: number | null;
  hosts: string[];
  spiffeIds: string[];
}

export function destinationMatches(d: Destination, f: FlowFacts): boolean {
  switch (d.kind) {
    case 'spiffe':
      return f.spiffeIds.some((id) => (d.prefix ? id.startsWith(d.id) : id === d.id));
    case 'any':
      return f.port === d.port;
    case 'cidr': {
      if (d.port !== null && f.port !== d.port) return false;
      if (!f.ip) return false;
      return new NetSet([d.cidr]).has(f.ip);
    }
    case 'host':
      if (d.port !== null && f.port !== d.port) return false;
      return f.hosts.some((h) => hostMatches(d.host, h));
  }
}

/** Host part of a target like `https://host:443/path`, `host:port` or `host`; null for addresses and paths. */
export function hostOfTarget(target: string): string | null {
  let t = target.trim();
  if (/^spiffe:/i.test(t)) return null;
  const url = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]+)/i.exec(t);
  if (url) t = url[1]!.replace(/^[^@]*@/, '');
  if (t.startsWith('/') || t.startsWith('spiffe:')) return null;
  const bracket = /^\[([^\]]+)\]/.exec(t);
  if (bracket) return null;
  const host = t.split(':')[0]!.split('/')[0]!;
  if (!host || isIP(host) !== 0 || !HOST_RE.test(host)) return null;
  return host.toLowerCase();
}
