// R2T bookkeeping: descriptors moved between a preallocated pool and a queue by two named guards.
export * from './table.js';
