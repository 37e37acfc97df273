/**
 * The environment variables clfsload honours, read here and nowhere else (the library reads
 * none): knobs for benchmarks and the fault seams tests use in child processes.
 *   CLFSLOAD_ENCODE_WORKERS  encode worker threads (default: one per core)
 *   CLFSLOAD_SOURCE_FAULTS   a source fault plan (src/scan/source-fs.ts), installed for the process
 *   CLFSLOAD_STATE_FAULTS    a state fault plan (src/state/state-faults.ts)
 *   CLFSLOAD_FOLDER_FSYNC    how a file:// target makes blobs durable: auto (default), fsync,
 *                            syncfs, or 0 (none: a benchmark knob only)
 * and for Azure targets (azureEnvironment):
 *   CLFSLOAD_SAS             the SAS, kept off the command line
 *   AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY   an account key (or SAS) as az and the SDKs take it
 *   HTTPS_PROXY, ALL_PROXY, HTTP_PROXY, NO_PROXY (or lowercase)   the proxy, as the Azure SDK reads them
 * (@azure/identity's DefaultAzureCredential reads its own: AZURE_CLIENT_ID, AZURE_TENANT_ID, ...)
 *   SLURM_ARRAY_TASK_ID,     the shard of `load --plan PLAN` when --shard is not given (a Slurm
 *   JOB_COMPLETION_INDEX     job array's task, a Kubernetes Indexed Job's completion index)
 */
import { ClfsError, durabilityFromEnv, installSourceFaultsFromEnv, proxySettingsOf, stateFaultPlanFromEnv } from '../index.js';
import type { LoadOptions, ProxySettings } from '../index.js';

export type EnvironmentLoadOptions = Pick<LoadOptions, 'encodeWorkers' | 'stateFaults'>;

/** Apply the process-wide settings of `env` and return the load options it sets. */
export function applyEnvironment(env: NodeJS.ProcessEnv): EnvironmentLoadOptions {
  installSourceFaultsFromEnv(env);
  const out: EnvironmentLoadOptions = {};
  const workers = env.CLFSLOAD_ENCODE_WORKERS;
  if (workers !== undefined && workers.trim() !== '') {
    const n = Number(workers);
    if (!Number.isInteger(n) || n < 0 || n > 64) {
      throw new ClfsError('E_USAGE', `CLFSLOAD_ENCODE_WORKERS=${workers} is not valid: a whole number from 0 to 64, or unset it`, { subject: 'CLFSLOAD_ENCODE_WORKERS' });
    }
    out.encodeWorkers = n;
  }
  const plan = stateFaultPlanFromEnv(env);
  if (plan !== undefined) out.stateFaults = plan;
  return out;
}

/** The folder target's durability mode from CLFSLOAD_FOLDER_FSYNC (a usage error when it is not one of its values). */
export function folderDurability(env: NodeJS.ProcessEnv): ReturnType<typeof durabilityFromEnv> {
  return durabilityFromEnv(env.CLFSLOAD_FOLDER_FSYNC);
}

/** What the environment gives an Azure target: secrets and the proxy. */
export interface AzureEnvironment {
  sas?: string;
  connectionString?: string;
  accountKey?: string;
  proxy?: ProxySettings;
}

export function azureEnvironment(env: NodeJS.ProcessEnv): AzureEnvironment {
  const get = (name: string): string | undefined => {
    const v = env[name] ?? env[name.toLowerCase()];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const out: AzureEnvironment = {};
  const sas = env.CLFSLOAD_SAS?.trim();
  if (sas !== undefined && sas !== '') out.sas = sas;
  const connectionString = env.AZURE_STORAGE_CONNECTION_STRING?.trim();
  if (connectionString !== undefined && connectionString !== '') out.connectionString = connectionString;
  const key = env.AZURE_STORAGE_KEY?.trim();
  if (key !== undefined && key !== '') out.accountKey = key;
  const proxy = proxySettingsOf({ httpsProxy: get('HTTPS_PROXY'), allProxy: get('ALL_PROXY'), httpProxy: get('HTTP_PROXY'), noProxy: get('NO_PROXY') });
  if (proxy !== undefined) out.proxy = proxy;
  return out;
}

/** The environment variables a scheduler sets to a task's index, in the order they are read. */
export const SHARD_INDEX_ENV = ['SLURM_ARRAY_TASK_ID', 'JOB_COMPLETION_INDEX'] as const;

/** The shard a scheduler's task is (undefined when no variable is set; a usage error when one is not a whole number). */
export function shardIndexFromEnv(env: NodeJS.ProcessEnv): { shard: number; from: string } | undefined {
  for (const name of SHARD_INDEX_ENV) {
    const v = env[name];
    if (v === undefined || v.trim() === '') continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ClfsError('E_USAGE', `${name}=${v} is not a shard number: give --shard K, or unset it`, { subject: name });
    return { shard: n, from: name };
  }
  return undefined;
}

// ---- copy: shards from a job array, and the thread pool --------------------------------------
//   SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT  a Slurm job array's task
//   JOB_COMPLETION_INDEX                                               a Kubernetes Indexed Job's
//   UV_THREADPOOL_SIZE                                                 libuv's thread pool (copy)

export interface ShardSetting {
  index: number;
  count: number;
  /** where K and N came from, for messages */
  from: string;
}

function wholeNumber(name: string, value: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ClfsError('E_USAGE', `${name}=${value} is not valid: a whole number ≥ ${min}`, { subject: name });
  return n;
}

/**
 * The copy shard: `--shard K/N` (K from 0), else a Slurm array task (K = SLURM_ARRAY_TASK_ID −
 * SLURM_ARRAY_TASK_MIN, N = SLURM_ARRAY_TASK_COUNT or --shards), else a Kubernetes Indexed Job
 * (K = JOB_COMPLETION_INDEX, N = --shards); undefined: one copy of the whole tree.
 */
export function copyShard(env: NodeJS.ProcessEnv, flag: string | undefined, shards: number | undefined): ShardSetting | undefined {
  let s: ShardSetting | undefined;
  if (flag !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(flag.trim());
    if (m === null) throw new ClfsError('E_USAGE', `--shard ${flag}: give K/N, shard K (from 0) of N, e.g. --shard 0/4`, { subject: '--shard' });
    s = { index: Number(m[1]), count: Number(m[2]), from: '--shard' };
  } else if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_TASK_ID !== '') {
    const id = wholeNumber('SLURM_ARRAY_TASK_ID', env.SLURM_ARRAY_TASK_ID, 0);
    const min = env.SLURM_ARRAY_TASK_MIN ? wholeNumber('SLURM_ARRAY_TASK_MIN', env.SLURM_ARRAY_TASK_MIN, 0) : 0;
    const count = shards ?? (env.SLURM_ARRAY_TASK_COUNT ? wholeNumber('SLURM_ARRAY_TASK_COUNT', env.SLURM_ARRAY_TASK_COUNT, 1) : undefined);
    if (count === undefined) throw new ClfsError('E_USAGE', 'SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT: give --shards N', { subject: '--shards' });
    s = { index: id - min, count, from: 'SLURM_ARRAY_TASK_ID' };
  } else if (env.JOB_COMPLETION_INDEX !== undefined && env.JOB_COMPLETION_INDEX !== '') {
    const index = wholeNumber('JOB_COMPLETION_INDEX', env.JOB_COMPLETION_INDEX, 0);
    if (shards === undefined) throw new ClfsError('E_USAGE', 'JOB_COMPLETION_INDEX is set: give --shards N (the Job\'s completions)', { subject: '--shards' });
    s = { index, count: shards, from: 'JOB_COMPLETION_INDEX' };
  } else if (shards !== undefined && shards > 1) {
    throw new ClfsError('E_USAGE', `--shards ${shards} without a shard index: give --shard K/${shards}, or run inside a Slurm array or Kubernetes Indexed Job`, { subject: '--shards' });
  }
  if (s === undefined) return undefined;
  if (s.count < 1 || s.index < 0 || s.index >= s.count) throw new ClfsError('E_USAGE', `shard ${s.index} of ${s.count} (from ${s.from}) is out of range: K must be from 0 to N-1`, { subject: s.from });
  return s;
}

/**
 * Whether libuv's thread pool of this process has at least `size` threads. The pool starts at
 * the first asynchronous file call, which Node's module loader makes before any of our code
 * runs, so only a UV_THREADPOOL_SIZE in the environment the process started with counts.
 */
export function threadPoolReady(env: NodeJS.ProcessEnv, size: number): boolean {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n >= Math.min(size, 1024);
}

/** The environment of a re-run of this command with a pool of `size` threads (and the marker of that re-run). */
export function threadPoolEnv(env: NodeJS.ProcessEnv, size: number): NodeJS.ProcessEnv {
  return { ...env, UV_THREADPOOL_SIZE: String(Math.min(size, 1024)), CLFSLOAD_REEXEC_PARENT: String(process.pid) };
}

/** The pid of the launcher that re-ran this process for its thread pool, if it did. */
export function reexecParent(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.CLFSLOAD_REEXEC_PARENT;
  return v === undefined || v === '' ? undefined : Number(v);
}
