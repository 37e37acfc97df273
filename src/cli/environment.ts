/**
 * The environment variables clfsload honours, read here and nowhere else (the library reads
 * none): knobs for benchmarks and the fault seams tests use in child processes.
 *   CLFSLOAD_ENCODE_WORKERS  encode worker threads (default: one per core, at most 4)
 *   CLFSLOAD_SOURCE_FAULTS   a source fault plan (src/scan/source-fs.ts), installed for the process
 *   CLFSLOAD_STATE_FAULTS    a state fault plan (src/state/state-faults.ts)
 *   CLFSLOAD_FOLDER_FSYNC    how a file:// target makes blobs durable: auto (default), fsync,
 *                            syncfs, or 0 (none: a benchmark knob only)
 *   SLURM_ARRAY_TASK_ID,     the shard of `load --plan PLAN` when --shard is not given (a Slurm
 *   JOB_COMPLETION_INDEX     job array's task, a Kubernetes Indexed Job's completion index)
 */
import { ClfsError, durabilityFromEnv, installSourceFaultsFromEnv, stateFaultPlanFromEnv } from '../index.js';
import type { LoadOptions } from '../index.js';

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
