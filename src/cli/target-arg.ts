/**
 * A target as the user gave it, read in one place for every command: a URL (`file:///ABS/DIR`,
 * a container SAS URL, or `CONTAINER?SAS` with `--endpoint`), or the reference's separate
 * account, container and SAS positionals. Parsing touches nothing; opening is left to the command,
 * which may first check what else it was given (a load checks its source before any target work).
 */
import { openTarget, parseTargetUrl, RateLimitTarget, RetryTarget, targetKey } from '../index.js';
import { folderDurability } from './environment.js';
import type { RateLimiter, Target, TargetSpec } from '../index.js';

export type TargetArgument =
  | { url: string; endpoint?: string }
  /** the reference's positionals; the endpoint defaults to https://ACCOUNT.blob.core.windows.net */
  | { account: string; container: string; sas: string; endpoint?: string };

export interface CliTarget {
  spec: TargetSpec;
  /** names the target in the default state folder and in the state's identity checks */
  key: string;
  /**
   * The target, wrapped in retries with backoff (transient failures, throttling). `concurrency`
   * (--concurrency) becomes the target's own connection limit, so the retry wrapper's throttle and
   * the Put Blob agent's sockets allow as many requests in flight as the loader sends.
   * `reportRetries`: a line on stderr from the third retry of a request on (a load's long run
   * wants to show it is stuck; the read commands and the demo stay quiet).
   */
  open(options?: { concurrency?: number; reportRetries?: boolean; limiter?: RateLimiter }): Target;
}

export function cliTarget(arg: TargetArgument, io?: { stderr: NodeJS.WritableStream }): CliTarget {
  const spec = specOf(arg);
  return {
    spec,
    key: targetKey(spec),
    open: ({ concurrency, reportRetries = false, limiter } = {}) => {
      const limit = concurrency === undefined ? {} : { maxConnections: concurrency };
      // how a folder target makes blobs durable: a bench knob (CLFSLOAD_FOLDER_FSYNC, src/cli/environment.ts)
      const folder = { ...limit, durability: folderDurability(process.env) };
      const opened = openTarget(spec, { azure: limit, folder });
      // under the retries, so each attempt passes the limits (--bwlimit, --max-requests)
      return new RetryTarget(limiter?.limited ? new RateLimitTarget(opened, limiter) : opened, {
        // an unreachable host gets a few quick tries, then one line from main(): no retry chatter
        onRetry: io && reportRetries ? (info) => (info.attempt >= 3 && !info.error.unreachable ? io.stderr.write(`retrying ${info.operation} ${info.subject}: ${info.error.message} (attempt ${info.attempt + 1})\n`) : undefined) : undefined,
      });
    },
  };
}

function specOf(arg: TargetArgument): TargetSpec {
  if ('url' in arg) return parseTargetUrl(arg.url, arg.endpoint === undefined ? {} : { endpoint: arg.endpoint });
  const endpoint = (arg.endpoint ?? `https://${arg.account}.blob.core.windows.net`).replace(/\/+$/, '');
  return { kind: 'azure', endpoint, accountName: arg.account, containerName: arg.container, sasToken: arg.sas.replace(/^\?+/, '') };
}

/** Help texts of the target argument and --endpoint, the same in every read command. */
export const TARGET_HELP = 'file:///ABS/DIR or a container SAS URL';
export const ENDPOINT_HELP = 'account endpoint for a bare CONTAINER?SAS target';
