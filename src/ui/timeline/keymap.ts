import type { Key } from 'ink';
import type { Action, View } from './state.js';

/** One keymap for the timeline; `?` shows it. */
export const KEY_HELP: readonly [string, string][] = [
  ['↑/↓  k/j', 'previous / next row (scroll in detail)'],
  ['PgUp/PgDn', 'previous / next page'],
  ['g / G', 'first / last row'],
  ['Enter', 'open the detail of the row'],
  ['1–9', 'in detail: open the linked event with that number'],
  ['/', 'filter (substring over actor, credential, action, target, …); Enter applies, empty clears'],
  ['Esc', 'back'],
  ['?', 'this help'],
  ['q', 'quit'],
];

export type KeyCommand = Action | { type: 'quit' } | { type: 'select' } | { type: 'link'; index: number } | null;

export function commandFor(view: View, input: string, key: Key): KeyCommand {
  if (view === 'filter') return null; // the filter line edits text itself
  if (input === 'q' || (key.ctrl && input === 'c')) return { type: 'quit' };
  if (input === '?') return { type: 'help' };
  if (key.escape) return { type: 'back' };
  if (view === 'help') return null;
  if (key.upArrow || input === 'k') return { type: 'move', delta: -1 };
  if (key.downArrow || input === 'j') return { type: 'move', delta: 1 };
  if (key.pageUp || (key.ctrl && input === 'b')) return { type: 'page', delta: -1 };
  if (key.pageDown || (key.ctrl && input === 'f') || input === ' ') return { type: 'page', delta: 1 };
  if (input === 'g' || key.home) return { type: 'home' };
  if (input === 'G' || key.end) return { type: 'end' };
  if (view === 'list' && key.return) return { type: 'select' };
  if (view === 'list' && input === '/') return { type: 'filter-start' };
  if (view === 'detail' && /^[1-9]$/.test(input)) return { type: 'link', index: Number(input) - 1 };
  return null;
}

/** Splits a multi-character input (several keystrokes in one read) into single keystrokes. */
export function splitKeys(input: string, key: Key): [string, Key][] {
  if (input.length <= 1 || key.ctrl || key.meta || key.escape) return [[input, key]];
  const plain: Key = { ...key, return: false, tab: false, backspace: false };
  return [...input].map((ch): [string, Key] => (ch === '\r' || ch === '\n' ? ['', { ...plain, return: true }] : ch === '\t' ? ['', { ...plain, tab: true }] : [ch, plain]));
}
