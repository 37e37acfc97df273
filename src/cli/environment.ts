/**
 * The environment variables clfsload honours, read here and nowhere else (the library reads
 * none): knobs for benchmarks and the fault seams tests use in child processes.
 *   CLFSLOAD_ENCODE_WORKERS  encode worker threads (default: one per core, at most 4)
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
