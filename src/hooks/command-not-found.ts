import type { Hook } from '@oclif/core';
import { escapeText } from '../util/escape.js';

/** An unknown command is a usage error: one line, exit 2. */
const hook: Hook.CommandNotFound = async function (opts) {
  const known = opts.config.commandIDs.join(', ');
  process.stderr.write(`custody: ${escapeText(opts.id)} is not a command (commands: ${known}; see custody --help)\n`);
  process.exit(2);
};

export default hook;
