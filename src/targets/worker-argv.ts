/**
 * The Node options a worker thread of ours starts with: the caller's, less those that belong to
 * the main script alone. `node --input-type=module -e CODE` passes `--input-type` and the code on
 * to every worker, whose own module then fails to load; profiling and memory flags (--cpu-prof,
 * --max-old-space-size) are kept, so a profile of the load still covers its threads.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--input-type' || a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i += 1; // and its value
      continue;
    }
    if (a.startsWith('--input-type=') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}
