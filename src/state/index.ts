export { StateDb, StateReader, TransferIdentitySchema, STATE_DB_FILE } from './state-db.js';
export type { ChildRow, SingleObjectRow, EntryRow, NewEntry, Completion, TransferIdentity, Counters } from './state-db.js';
export { EntryState, Phase, STATE_FORMAT_VERSION } from './schema.js';
