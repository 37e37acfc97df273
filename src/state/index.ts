export { StateDb, TransferIdentitySchema } from './state-db.js';
export type { ChildRow, NewEntry, Completion, TransferIdentity, Counters } from './state-db.js';
export { STATE_DB_FILE } from './rows.js';
export type { EntryRow, SingleObjectRow } from './rows.js';
export { StateReader } from './state-reader.js';
export { EntryState, FINISHED_STATES, FTYPE_UNKNOWN, Phase, STATE_FORMAT_VERSION } from './schema.js';
export { checkState } from './state-check.js';
export type { StateCheckReport } from './state-check.js';
