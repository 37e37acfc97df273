export { ClfsError, isClfsError, formatCorrupt } from './clfs-error.js';
export type { ClfsErrorCode, ClfsErrorOptions } from './clfs-error.js';
