export * from './evaluate.js';
export * from './report.js';
export * from './rules.js';
export * from './run.js';
