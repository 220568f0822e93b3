import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { TimelineRow } from '../../src/reconstruct/index.js';
import { TimelineApp } from '../../src/ui/timeline/App.js';
import type { TimelineSource } from '../../src/ui/timeline/source.js';
import { initialState, reduce } from '../../src/ui/timeline/state.js';

const KEY = { up: '\u001b[A', down: '\u001b[B', pageDown: '\u001b[6~', pageUp: '\u001b[5~', enter: '\r', escape: '\u001b', backspace: '\u007f' };

function row(i: number, extra: Partial<TimelineRow> = {}): TimelineRow {
  const t = new Date(Date.UTC(2026, 2, 10, 10, 0, 0) + i * 1000).toISOString().replace('.000Z', 'Z');
  return {
    event_id: `e${i}`,
    time: t,
    source: 'cloudtrail',
    source_ref: `raw/cloudtrail/x.json:${i + 1}`,
    category: 'api',
    action: `s3:Action${i}`,
    outcome: i % 7 === 3 ? 'denied' : 'success',
    actor_id: `arn:aws:sts::1:assumed-role/r/s${i % 3}`,
    credential_id: `ASIAKEY${i % 3}`,
    target: `s3://bucket/${i}`,
    attrs: null,
    links: i > 0 ? [{ rule: 'credential-issuance', confidence: 'exact', event_id: 'e0' }] : [],
    identity_chain: [
      { id: `arn:aws:sts::1:assumed-role/r/s${i % 3}`, type: 'role_session', via: 'actor' },
      { id: 'ci/build-7f9c', type: 'workload', via: 'web-identity-token', event_id: 'e0', confidence: 'strong' },
    ],
    bundle: 'b',
    ...extra,
  } as TimelineRow;
}

/** A source over N synthetic rows that counts the rows it hands out (the UI must page, not load all). */
function fakeSource(n: number, grep = ''): TimelineSource & { served: number } {
  const all = Array.from({ length: n }, (_, i) => row(i, i === 5 ? { user_agent: 'evil\u001b[2J\u001b]0;x\u0007' } : {}));
  const rows = grep ? all.filter((r) => r.action.includes(grep)) : all;
  const src = {
    title: 'test bundle',
    grep,
    served: 0,
    count: async () => rows.length,
    page: async (offset: number, limit: number) => {
      const p = rows.slice(offset, offset + limit);
      src.served += p.length;
      return p;
    },
    byId: async (id: string) => all.find((r) => r.event_id === id),
    raw: async (r: TimelineRow) => `{"raw": "${r.event_id}", "ua": "\u001b[31mred"}`,
    withGrep: async (g: string) => fakeSource(n, g),
  };
  return src;
}

const tick = () => new Promise((r) => setTimeout(r, 30));

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

describe('timeline state', () => {
  it('keeps the cursor inside the rows and the window around the cursor', () => {
    let s = reduce(initialState(10), { type: 'total', total: 1000 });
    s = reduce(s, { type: 'move', delta: -1 });
    expect(s.cursor).toBe(0);
    s = reduce(s, { type: 'page', delta: 1 });
    expect([s.cursor, s.top]).toEqual([10, 10]);
    s = reduce(s, { type: 'end' });
    expect([s.cursor, s.top]).toEqual([999, 990]);
    s = reduce(s, { type: 'move', delta: 5 });
    expect(s.cursor).toBe(999);
    s = reduce(s, { type: 'home' });
    expect([s.cursor, s.top]).toEqual([0, 0]);
    s = reduce(s, { type: 'open', eventId: 'a' });
    s = reduce(s, { type: 'open', eventId: 'b' });
    expect(s.detail).toEqual(['a', 'b']);
    s = reduce(s, { type: 'back' });
    expect([s.view, s.detail]).toEqual(['detail', ['a']]);
    s = reduce(s, { type: 'back' });
    expect(s.view).toBe('list');
  });
});

describe('interactive timeline', () => {
  it('pages through a large timeline without loading it all', async () => {
    const src = fakeSource(1_000_000);
    const ui = render(<TimelineApp source={src} columns={100} rows={20} />);
    await settle();
    expect(ui.lastFrame()).toContain('1,000,000 rows');
    expect(ui.lastFrame()).toContain('s3:Action0');
    ui.stdin.write('j');
    ui.stdin.write(KEY.down);
    await settle();
    expect(ui.lastFrame()).toContain('row 3/1000000');
    ui.stdin.write('G');
    await settle();
    expect(ui.lastFrame()).toContain('row 1000000/1000000');
    expect(ui.lastFrame()).toContain('2026-03-21 23:46:39'); // the last row: 999,999 s after the first
    ui.stdin.write('g');
    ui.stdin.write(KEY.pageDown);
    await settle();
    expect(ui.lastFrame()).toContain('row 17/1000000');
    expect(src.served).toBeLessThan(1000);
    ui.unmount();
  });

  it('opens the detail with links, chain and raw record, escaping evidence; Esc goes back', async () => {
    const ui = render(<TimelineApp source={fakeSource(50)} columns={100} rows={60} />);
    await settle();
    for (let i = 0; i < 5; i++) ui.stdin.write('j');
    await settle();
    ui.stdin.write(KEY.enter);
    await settle();
    const frame = ui.lastFrame()!;
    expect(frame).toContain('Identity chain');
    expect(frame).toContain('ci/build-7f9c');
    expect(frame).toContain('via web-identity-token (strong)');
    expect(frame).toContain('[1] credential-issuance (exact) → e0');
    expect(frame).toContain('other side: ');
    expect(frame).toContain('user_agent');
    expect(frame).toContain('evil\\x1b[2J\\x1b]0;x\\x07');
    expect(frame).toContain('Raw record (raw/cloudtrail/x.json:6)');
    expect(frame).not.toMatch(/\u001b\[2J|\u001b\]0;/);
    ui.stdin.write('1');
    await settle();
    expect(ui.lastFrame()).toContain('s3:Action0');
    ui.stdin.write(KEY.escape);
    await settle();
    ui.stdin.write(KEY.escape);
    await settle();
    expect(ui.lastFrame()).toContain('row 6/50');
    ui.unmount();
  });

  it('filters with /, shows help with ?, quits with q', async () => {
    const ui = render(<TimelineApp source={fakeSource(300)} columns={100} rows={20} />);
    await settle();
    ui.stdin.write('/');
    for (const ch of 'Action12') ui.stdin.write(ch);
    await settle();
    expect(ui.lastFrame()).toContain('/Action12');
    ui.stdin.write(KEY.enter);
    await settle();
    expect(ui.lastFrame()).toContain('filter "Action12"');
    expect(ui.lastFrame()).toContain('11 rows');
    ui.stdin.write('?');
    await settle();
    expect(ui.lastFrame()).toContain('Keys');
    ui.stdin.write('?');
    ui.stdin.write('q');
    await settle();
    ui.unmount();
  });
});
