export * from './filter.js';
export * from './graph.js';
export * from './timeline.js';
export * from './correlate.js';
