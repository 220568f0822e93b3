export * from './bundle.js';
export * from './chain.js';
export * from './manifest.js';
export * from './paths.js';
export * from './verify.js';
