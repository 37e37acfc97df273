import { setSourceFaults } from '../../src/scan/index.js';
import type { SourceFaultPlan } from '../../src/scan/index.js';

/** Runs `fn` with `plan` as the source fault plan, and clears the plan after it, whatever `fn` did. */
export async function withSourceFaults<T>(plan: SourceFaultPlan, fn: () => Promise<T>): Promise<T> {
  setSourceFaults(plan);
  try {
    return await fn();
  } finally {
    setSourceFaults(undefined);
  }
}
