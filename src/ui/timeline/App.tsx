import { Box, Text, useApp, useInput, useStdout, type Key } from 'ink';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { TimelineRow } from '../../reconstruct/index.js';
import { fit, rowCells } from '../cells.js';
import { detailLines, type Line } from './detail.js';
import { commandFor, KEY_HELP, splitKeys } from './keymap.js';
import type { TimelineSource } from './source.js';
import { initialState, reduce, type Action } from './state.js';
import { useRows } from './useRows.js';

const OUTCOME_COLOR: Record<string, string> = { success: 'green', allowed: 'cyan', failure: 'yellow', denied: 'red', unknown: 'gray' };

/** Lines the list view uses besides rows: title, column header, footer. */
const CHROME = 4;

export interface AppProps {
  source: TimelineSource;
  /** Terminal size; the command passes the real one, tests pass fixed sizes. */
  columns?: number;
  rows?: number;
}

export function TimelineApp(props: AppProps) {
  const { stdout } = useStdout();
  const columns = props.columns ?? stdout.columns ?? 100;
  const termRows = props.rows ?? stdout.rows ?? 30;
  const [source, setSource] = useState(props.source);
  // Keys are applied to the latest state synchronously (a ref), so keystrokes that arrive in one
  // tick (a paste, a fast typist) each see the state the previous one left.
  const [state, setState] = useState(() => initialState(termRows - CHROME, props.source.grep));
  const live = useRef(state);
  const dispatch = useCallback((a: Action) => {
    live.current = reduce(live.current, a);
    setState(live.current);
  }, []);
  const [counting, setCounting] = useState(true);
  const [error, setError] = useState<string>();
  const { exit } = useApp();

  useEffect(() => dispatch({ type: 'resize', height: termRows - CHROME }), [termRows, dispatch]);

  useEffect(() => {
    let live = true;
    setCounting(true);
    source.count().then(
      (n) => {
        if (!live) return;
        dispatch({ type: 'total', total: n });
        setCounting(false);
      },
      (err: unknown) => live && setError((err as Error).message),
    );
    return () => {
      live = false;
    };
  }, [source, dispatch]);

  const { rows, error: rowError } = useRows(source, state.top, state.height, state.total);
  const selected = rows[state.cursor - state.top];

  const detailId = state.view === 'detail' ? state.detail[state.detail.length - 1] : undefined;
  const detailRow = useDetailRow(source, detailId, selected);

  const rowsRef = useRef({ rows, top: state.top });
  rowsRef.current = { rows, top: state.top };
  const detailRef = useRef(detailRow.current);
  detailRef.current = detailRow.current;

  const onKey = (input: string, key: Key): void => {
    const cur = live.current;
    if (cur.view === 'filter') {
      if (key.escape) dispatch({ type: 'back' });
      else if (key.return) {
        dispatch({ type: 'filter-done' });
        source.withGrep(cur.filterText.trim()).then(setSource, (err: unknown) => setError((err as Error).message));
      } else if (key.backspace || key.delete) dispatch({ type: 'filter-edit', text: cur.filterText.slice(0, -1) });
      else if (input && !key.ctrl && !key.meta) dispatch({ type: 'filter-edit', text: cur.filterText + input });
      return;
    }
    const cmd = commandFor(cur.view, input, key);
    if (!cmd) return;
    if (cmd.type === 'quit') exit();
    else if (cmd.type === 'select') {
      const row = rowsRef.current.rows[cur.cursor - rowsRef.current.top];
      if (row) dispatch({ type: 'open', eventId: row.event_id });
    } else if (cmd.type === 'link') {
      const link = detailRef.current?.links[cmd.index];
      if (link) dispatch({ type: 'open', eventId: link.event_id });
    } else dispatch(cmd);
  };
  // Keystrokes that arrive together (typed fast, pasted, or sent by a script) come as one string.
  useInput((input, key) => {
    for (const [i, k] of splitKeys(input, key)) onKey(i, k);
  });

  const width = Math.max(40, columns);
  const header = (
    <Text bold wrap="truncate">
      {fit(`custody · ${source.title} · ${counting ? 'counting…' : `${state.total.toLocaleString('en-US')} rows`}${source.grep ? ` · filter "${source.grep}"` : ''}`, width)}
    </Text>
  );
  if (error ?? rowError) {
    return (
      <Box flexDirection="column">
        {header}
        <Text color="red">error: {error ?? rowError}</Text>
      </Box>
    );
  }
  if (state.view === 'help') {
    return (
      <Box flexDirection="column">
        {header}
        <Text bold>Keys</Text>
        {KEY_HELP.map(([k, d]) => (
          <Text key={k}>
            {'  '}
            {k.padEnd(12)} {d}
          </Text>
        ))}
        <Text dimColor>Control characters from evidence are shown as escapes like \x1b, highlighted.</Text>
        <Text dimColor>? or Esc to go back</Text>
      </Box>
    );
  }
  if (state.view === 'detail' && detailRow.current) {
    const lines = detailLines(detailRow.current, detailRow.linked, detailRow.raw, width);
    const height = termRows - 2;
    const maxScroll = Math.max(0, lines.length - height);
    const scroll = Math.min(state.detailScroll, maxScroll);
    return (
      <Box flexDirection="column">
        {header}
        {lines.slice(scroll, scroll + height).map((l, i) => (
          <SpanLine key={i} line={l} />
        ))}
        <Text dimColor wrap="truncate">
          {fit(`detail ${scroll + 1}-${Math.min(lines.length, scroll + height)}/${lines.length} · ↑↓ scroll · 1-9 open link · Esc back · q quit`, width)}
        </Text>
      </Box>
    );
  }

  const w = listWidths(width);
  return (
    <Box flexDirection="column">
      {header}
      <Text dimColor wrap="truncate">
        {[fit('TIME (UTC)', w.time), fit('SOURCE', w.source), fit('OUTCOME', w.outcome), fit('ACTOR → CREDENTIAL', w.who), fit('ACTION', w.action), fit('TARGET', w.target), fit('BEHIND', w.behind)].join(' ')}
      </Text>
      {Array.from({ length: state.height }, (_, i) => {
        const idx = state.top + i;
        if (idx >= state.total) return <Text key={i}> </Text>;
        const row = rows[i];
        return <RowLine key={i} row={row} selected={idx === state.cursor} w={w} />;
      })}
      {state.view === 'filter' ? (
        <Text wrap="truncate">
          /{state.filterText}
          <Text inverse> </Text>
          <Text dimColor> Enter apply · Esc cancel</Text>
        </Text>
      ) : (
        <Text dimColor wrap="truncate">
          {fit(`row ${state.total === 0 ? 0 : state.cursor + 1}/${state.total} · ↑↓ PgUp/PgDn g/G move · Enter detail · / filter · ? help · q quit`, width)}
        </Text>
      )}
    </Box>
  );
}

interface Widths {
  time: number;
  source: number;
  outcome: number;
  who: number;
  action: number;
  target: number;
  behind: number;
}

function listWidths(width: number): Widths {
  const time = 19;
  const source = 10;
  const outcome = 7;
  const rest = Math.max(30, width - time - source - outcome - 6);
  const who = Math.floor(rest * 0.3);
  const action = Math.floor(rest * 0.22);
  const target = Math.floor(rest * 0.26);
  return { time, source, outcome, who, action, target, behind: rest - who - action - target };
}

function RowLine({ row, selected, w }: { row: TimelineRow | undefined; selected: boolean; w: Widths }) {
  if (!row) return <Text dimColor>{fit('…', w.time)}</Text>;
  const c = rowCells(row);
  return (
    <Text inverse={selected} wrap="truncate">
      {fit(c.time.slice(0, 19), w.time)} {fit(c.source, w.source)} <Text color={OUTCOME_COLOR[c.outcome] ?? 'white'}>{fit(c.outcome, w.outcome)}</Text> {fit(c.who, w.who)}{' '}
      {fit(c.action, w.action)} {fit(c.target, w.target)} <Text color="magenta">{fit(c.behind, w.behind)}</Text>
    </Text>
  );
}

function SpanLine({ line }: { line: Line }) {
  if (line.length === 0) return <Text> </Text>;
  return (
    <Text wrap="truncate">
      {line.map((s, i) => (
        <Text key={i} color={s.escaped ? 'yellow' : s.color} inverse={s.escaped} bold={s.bold} dimColor={s.dim}>
          {s.text}
        </Text>
      ))}
    </Text>
  );
}

interface DetailData {
  current: TimelineRow | undefined;
  linked: Map<string, TimelineRow | null>;
  raw: string | undefined;
}

/** Loads the row shown in the detail view, the rows its links point at, and its raw record. */
function useDetailRow(source: TimelineSource, eventId: string | undefined, selected: TimelineRow | undefined): DetailData {
  const [data, setData] = useState<DetailData>({ current: undefined, linked: new Map(), raw: undefined });
  const initial = useMemo(() => (selected && selected.event_id === eventId ? selected : undefined), [selected, eventId]);
  useEffect(() => {
    if (!eventId) {
      setData({ current: undefined, linked: new Map(), raw: undefined });
      return;
    }
    let live = true;
    (async () => {
      const row = initial ?? (await source.byId(eventId));
      if (!live) return;
      setData({ current: row, linked: new Map(), raw: undefined });
      if (!row) return;
      const linked = new Map<string, TimelineRow | null>();
      for (const l of row.links) linked.set(l.event_id, (await source.byId(l.event_id)) ?? null);
      const raw = await source.raw(row);
      if (live) setData({ current: row, linked, raw });
    })().catch(() => undefined);
    return () => {
      live = false;
    };
  }, [source, eventId, initial]);
  return data;
}
