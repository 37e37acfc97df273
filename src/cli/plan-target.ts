/**
 * The target of a planned load's shard or finalize: the one stored in the plan (a target that
 * holds no secret, file://), or TARGET given again (a container SAS URL: secrets are never
 * written into the plan). Either way it must be the container the plan was made for.
 */
import { ClfsError, readPlan } from '../index.js';
import type { Plan } from '../index.js';
import type { CliContext } from './context.js';
import type { CliTarget } from './target-arg.js';

export function planTarget(ctx: CliContext, planFile: string, url: string | undefined, endpoint: string | undefined): { plan: Plan; target: CliTarget } {
  const plan = readPlan(planFile);
  const given = url ?? plan.targetUrl;
  if (given === undefined) {
    throw new ClfsError('E_USAGE', `--plan ${planFile}: the plan's target (${plan.targetKey}) needs credentials, which a plan never stores: give TARGET (its container SAS URL) after the options`, { subject: planFile });
  }
  const target = ctx.target({ url: given, endpoint });
  if (target.key !== plan.targetKey) {
    throw new ClfsError('E_USAGE', `TARGET ${target.key} is not the container of --plan ${planFile} (${plan.targetKey}): give the plan's target`, { subject: planFile });
  }
  return { plan, target };
}
