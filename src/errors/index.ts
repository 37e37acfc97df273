export { ClfsError, isClfsError, formatCorrupt, stopsRun, errorToJson, errorFromJson, CLFS_ERROR_CODES } from './clfs-error.js';
export type { ClfsErrorCode, ClfsErrorOptions, ClfsErrorJson } from './clfs-error.js';
