/**
 * Headless state of the interactive timeline: cursor and window over `total` rows, the view
 * (list, detail, filter input, help), and the detail stack. Pure reducer, exhaustive actions;
 * rows themselves are fetched a page at a time by useRows and never held here.
 */

export type View = 'list' | 'detail' | 'filter' | 'help';

export interface TimelineState {
  view: View;
  total: number;
  cursor: number;
  top: number;
  height: number;
  /** Event ids of opened details, last is shown (Enter on a link pushes, Esc pops). */
  detail: string[];
  detailScroll: number;
  filterText: string;
}

export type Action =
  | { type: 'total'; total: number }
  | { type: 'resize'; height: number }
  | { type: 'move'; delta: number }
  | { type: 'page'; delta: number }
  | { type: 'home' }
  | { type: 'end' }
  | { type: 'open'; eventId: string }
  | { type: 'back' }
  | { type: 'scroll'; delta: number }
  | { type: 'filter-start' }
  | { type: 'filter-edit'; text: string }
  | { type: 'filter-done' }
  | { type: 'help' };

export function initialState(height: number, grep = ''): TimelineState {
  return { view: 'list', total: 0, cursor: 0, top: 0, height: Math.max(1, height), detail: [], detailScroll: 0, filterText: grep };
}

function clampCursor(s: TimelineState, cursor: number): TimelineState {
  const max = Math.max(0, s.total - 1);
  const c = Math.min(Math.max(0, cursor), max);
  let top = s.top;
  if (c < top) top = c;
  if (c >= top + s.height) top = c - s.height + 1;
  top = Math.min(Math.max(0, top), Math.max(0, s.total - s.height));
  return { ...s, cursor: c, top };
}

export function reduce(s: TimelineState, a: Action): TimelineState {
  switch (a.type) {
    case 'total':
      return clampCursor({ ...s, total: a.total }, s.cursor);
    case 'resize':
      return clampCursor({ ...s, height: Math.max(1, a.height) }, s.cursor);
    case 'move':
      if (s.view === 'detail') return { ...s, detailScroll: Math.max(0, s.detailScroll + a.delta) };
      return clampCursor(s, s.cursor + a.delta);
    case 'page':
      if (s.view === 'detail') return { ...s, detailScroll: Math.max(0, s.detailScroll + a.delta * s.height) };
      return clampCursor({ ...s, top: s.top + a.delta * s.height }, s.cursor + a.delta * s.height);
    case 'home':
      if (s.view === 'detail') return { ...s, detailScroll: 0 };
      return clampCursor(s, 0);
    case 'end':
      if (s.view === 'detail') return { ...s, detailScroll: Number.MAX_SAFE_INTEGER };
      return clampCursor(s, s.total - 1);
    case 'open':
      return { ...s, view: 'detail', detail: [...s.detail, a.eventId], detailScroll: 0 };
    case 'back':
      if (s.view === 'detail' && s.detail.length > 1) return { ...s, detail: s.detail.slice(0, -1), detailScroll: 0 };
      return { ...s, view: 'list', detail: [], detailScroll: 0 };
    case 'scroll':
      return { ...s, detailScroll: Math.max(0, s.detailScroll + a.delta) };
    case 'filter-start':
      return { ...s, view: 'filter' };
    case 'filter-edit':
      return { ...s, filterText: a.text };
    case 'filter-done':
      return { ...s, view: 'list', cursor: 0, top: 0 };
    case 'help':
      return { ...s, view: s.view === 'help' ? 'list' : 'help' };
  }
}
