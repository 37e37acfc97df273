/**
 * The one storage interface. To a target a blob is a name and bytes; it knows nothing of CLFS.
 * Every target turns its own failures into ClfsError codes:
 *  - a missing blob            -> E_TARGET_NOT_FOUND (get); delete of a missing blob succeeds
 *  - rejected credentials      -> E_TARGET_AUTH / E_TARGET_SAS_EXPIRED / E_TARGET_PERMISSION (fatal)
 *  - missing container/folder  -> E_TARGET_CONTAINER_MISSING (fatal)
 *  - 429/503 throttling        -> E_TARGET_THROTTLED (retryable, retryAfterSeconds when given)
 *  - 5xx, 408, resets, timeouts-> E_TARGET_TRANSIENT / E_TARGET_TIMEOUT (retryable)
 *  - local I/O failure         -> E_TARGET_IO
 */
export interface TargetCapabilities {
  /** how many requests in flight suit this target (deep for remote blob, moderate for a folder) */
  readonly maxConnections: number;
  /** true when put/get are remote requests (latency matters more than CPU) */
  readonly remote: boolean;
}

/**
 * Which optional Target methods a target has (rclone's Features). Declared, not probed: a caller
 * checks `target.features.flush`, never `target.flush !== undefined`, and a target has the method
 * exactly when it declares the feature (the conformance suite checks both ways). A wrapper
 * declares what it forwards (ForwardingTarget: what the target it wraps declares, less what it
 * turns off), so a wrapper cannot drop a method without saying so.
 */
export interface TargetFeatures {
  /** Target.putMany: a batch of small blobs in one call */
  readonly putMany: boolean;
  /** Target.checkAccess: a load checks access before it contacts the target otherwise */
  readonly checkAccess: boolean;
  /** Target.flush: puts are not durable until flushed (a target without it is durable at once) */
  readonly flush: boolean;
}

/** The optional methods TargetFeatures declares, for code that goes over all of them. */
/** How long one request may go unanswered before it counts as failed (and is retried); 60 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export const OPTIONAL_METHODS = ['putMany', 'checkAccess', 'flush'] as const satisfies readonly (keyof TargetFeatures)[];

export interface PutOptions {
  abortSignal?: AbortSignal;
}

export interface GetOptions {
  abortSignal?: AbortSignal;
  /** byte range [offset, offset + count) */
  range?: { offset: number; count?: number };
}

export interface ListOptions {
  abortSignal?: AbortSignal;
  /**
   * The caller reads the names only: a target whose sizes cost it something (a folder: one stat
   * per blob) may skip them and report sizeBytes as -1. Azure's listing has them for free.
   */
  namesOnly?: boolean;
}

export interface FlushOptions {
  abortSignal?: AbortSignal;
}

/** One blob for Target.putMany. */
export interface PutManyItem {
  name: string;
  data: Uint8Array;
}

export interface BlobInfo {
  name: string;
  sizeBytes: number;
}

export interface Target {
  /** for messages: "container acct/cont at https://...", "folder /x/y" */
  readonly description: string;
  readonly capabilities: TargetCapabilities;
  /** which of the optional methods below this target has */
  readonly features: TargetFeatures;
  /** create or overwrite one blob with these bytes */
  put(name: string, data: Uint8Array, options?: PutOptions): Promise<void>;
  /** the blob's bytes; E_TARGET_NOT_FOUND when absent */
  get(name: string, options?: GetOptions): Promise<Buffer>;
  exists(name: string, options?: PutOptions): Promise<boolean>;
  /** every blob whose name starts with prefix ('' for all), streamed, in lexicographic order */
  list(prefix: string, options?: ListOptions): AsyncIterable<BlobInfo>;
  /** remove one blob; a missing blob is not an error */
  delete(name: string, options?: PutOptions): Promise<void>;
  /**
   * Check the target is reachable and the credentials allow what a load needs
   * (read, write, list, delete) without leaving anything behind. Throws the fatal coded error.
   * Present when features.checkAccess.
   */
  checkAccess?(options?: PutOptions): Promise<void>;
  /**
   * Optional: create or overwrite several (small) blobs in one call. Like calling put for each item,
   * except that a crash (not an error) during the call may leave a blob of the batch partly
   * written: the caller must then put or delete that name again (the loader rewrites unfinished
   * entries on resume and deletes the names of entries that failed). On failure some items may
   * already be written (callers re-put the batch; puts are idempotent). Targets declare it only when it is
   * cheaper than one put per item (the folder target writes the batch synchronously, without a
   * promise chain per file); callers fall back to put when features.putMany is false.
   */
  putMany?(items: readonly PutManyItem[], options?: PutOptions): Promise<void>;
  /**
   * Optional: every blob whose put (or putMany) resolved before this call is durable (survives a
   * power loss) when it resolves. Puts made during the call are not covered: a later flush covers
   * them. A target whose put is durable when it resolves (Azure: Put Blob answered 201) has no
   * flush (features.flush false); callers treat that as already durable. The folder target batches the fsyncs
   * here. A rejection (E_TARGET_IO) means some of those blobs may not be durable: the caller must
   * not record them as done, and should stop (the folder target rejects every later flush too: a
   * failed fsync cannot be retried safely).
   */
  flush?(options?: FlushOptions): Promise<void>;
  /** release sockets, file handles; every wrapper forwards it, so callers may call it on any target */
  close?(): Promise<void>;
}
