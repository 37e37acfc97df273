/**
 * What the verify passes share: the target and options, the counts, the report's problem list
 * and the listing (every blob name, reached or not). Each pass is a module of functions over this
 * context; what only one pass needs (the reader, the hard-link table) stays with that pass.
 */
import * as os from 'node:os';
import { decodeBlob, decodeObject } from '../../codec/index.js';
import type { DecodedObject } from '../../codec/index.js';
import { ClfsError } from '../../errors/index.js';
import { DEFAULT_FILTERS, SourceFilter } from '../../scan/index.js';
import { FolderReader } from '../../targets/folder-reader.js';
import type { GetOptions, Target } from '../../targets/target.js';
import { BlobNameSet } from './blob-name-set.js';
import type { VerifyCounts, VerifyOptions, VerifyProblem, VerifyProblemCode } from './types.js';

/** Where a check reports what it finds. */
export interface ProblemSink {
  add(path: string, code: VerifyProblemCode, message: string, blob?: string): void;
}

/** An ordered list of problems that stops growing at `max` (memory stays bounded on a wrecked container). */
export class Problems implements ProblemSink {
  readonly list: VerifyProblem[] = [];

  constructor(readonly max: number) {}

  get length(): number {
    return this.list.length;
  }

  add(path: string, code: VerifyProblemCode, message: string, blob?: string): void {
    if (this.list.length >= this.max) return;
    const p: VerifyProblem = { path, code, message: path === '' ? message : `${path}: ${message}` };
    if (blob !== undefined) p.blob = blob;
    this.list.push(p);
  }

  append(other: Problems): void {
    for (const p of other.list) {
      if (this.list.length >= this.max) return;
      this.list.push(p);
    }
  }
}

/** What the listing found; the walk marks names reached and records the paths of odd ids. */
export interface Listing {
  /** every CLFS blob name with its size and whether the walk reached it (spills to disk when large) */
  readonly names: BlobNameSet;
  /** ids whose blob names are damaged: id hex → blob name (normally empty) */
  readonly badNameIds: Map<string, string>;
  /** ids with a leftover in-progress blob: id hex → blob name (normally empty) */
  readonly inProgressIds: Map<string, string>;
  /** paths of the ids above, as the walk finds them */
  readonly pathsById: Map<string, string>;
}

export interface VerifyContext {
  readonly target: Target;
  readonly options: VerifyOptions;
  /** download data segments (asked for, or implied by a source) */
  readonly readData: boolean;
  /** blob requests in flight */
  readonly limit: number;
  readonly maxProblems: number;
  readonly counts: VerifyCounts;
  /** the report's problems, in the order the passes run and, in the walk, the dirents are stored */
  readonly problems: Problems;
  readonly listing: Listing;
  /** with a source: the load's filters, compiled */
  readonly filter?: SourceFilter;
  /** with a source: threads that hash small source files (closed by verify) */
  readonly sourceThreads?: FolderReader;
  /** what each blob request is given: the abort signal alone (not the whole options object, copied by every wrapper) */
  readonly getOptions: GetOptions;
}

export function newContext(target: Target, options: VerifyOptions): VerifyContext {
  const maxProblems = options.maxProblems ?? 10000;
  return {
    target,
    options,
    readData: options.readData === true || options.source !== undefined,
    limit: Math.max(1, options.concurrency ?? target.capabilities.maxConnections),
    maxProblems,
    counts: { dirs: 0, files: 0, symlinks: 0, special: 0, hardlinkRepeats: 0, blobs: 0, segments: 0, indirect: 0, bytes: 0 },
    problems: new Problems(maxProblems),
    listing: { names: new BlobNameSet(options.namesInMemory), badNameIds: new Map(), inProgressIds: new Map(), pathsById: new Map() },
    ...(options.source !== undefined ? { filter: SourceFilter.compile(options.filters ?? DEFAULT_FILTERS), sourceThreads: new FolderReader(sourceThreadCount(target), 'clfs-source') } : {}),
    getOptions: options.abortSignal !== undefined ? { abortSignal: options.abortSignal } : {},
  };
}

/**
 * Threads that stat and read the source for verify --source: up to four, no more than the cores
 * the process may use, and half as many beside a folder target, whose four reader threads share
 * the same cores. Each thread is an isolate of its own, and what it does is mostly CPU on a warm
 * source (a copy of each small file, a hash of the larger ones), while the container's reads may
 * wait on a cold disk (the reader threads keep four reads in flight for that). On two cores,
 * verify --source of the 20,000-file tree from a folder on a cold page cache (source warm) took
 * 3.33 s of wall time and 5.03 s of CPU with one source thread against 3.92 s and 6.06 s with two
 * (medians of 6 alternating runs).
 */
function sourceThreadCount(target: Target): number {
  const n = Math.max(1, Math.min(4, os.availableParallelism()));
  return target.capabilities.remote ? n : Math.max(1, Math.floor(n / 2));
}

export function checkAbort(ctx: VerifyContext): void {
  if (ctx.options.abortSignal?.aborted === true) {
    throw new ClfsError('E_ABORTED', `verify of ${ctx.target.description} aborted`);
  }
}

export async function readObject(ctx: VerifyContext, name: string): Promise<DecodedObject> {
  return decodeObject(decodeBlob(await ctx.target.get(name, ctx.getOptions), name), name);
}

export function hex(b: Buffer): string {
  return b.toString('hex').toUpperCase();
}

export function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
