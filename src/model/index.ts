export * from './columns.js';
export * from './enums.js';
export * from './event.js';
export * from './time.js';
