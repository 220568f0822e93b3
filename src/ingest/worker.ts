import { parentPort, workerData } from 'node:worker_threads';
import { stagingPath } from './pool.js';
import { Processor, type Task } from './processor.js';
import type { ParserOptions } from './source.js';

/** Worker thread entry: runs ingest tasks with its own staging files (see processor.ts). */
interface Init {
  template: string;
  worker: string;
  parserOptions: ParserOptions;
}

const { template, worker, parserOptions } = workerData as Init;
const processor = new Processor((source) => stagingPath(template, worker, source), parserOptions);

parentPort!.on('message', (msg: { type: 'task'; task: Task } | { type: 'close' }) => {
  try {
    if (msg.type === 'task') parentPort!.postMessage({ type: 'result', result: processor.run(msg.task) });
    else parentPort!.postMessage({ type: 'closed', staged: processor.close() });
  } catch (err) {
    parentPort!.postMessage({ type: 'error', message: (err as Error).stack ?? String(err) });
  }
});
