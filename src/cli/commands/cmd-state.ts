/**
 * `clfsload state check DIR [--repair] [--json]`: the check a resume runs first, on demand.
 * Exit 0: consistent (or repaired); 1: findings not repaired, or damage that needs a new load.
 */
import { checkStateFolder } from '../../index.js';
import { folderArgument, shownPath } from '../byte-path.js';
import type { CliCommand } from '../commands.js';

export const stateCommand: CliCommand = {
  name: 'state',
  register(program, ctx) {
    const state = program.command('state').description('inspect the local state of a load');
    state
      .command('check')
      .description('check a state folder as a resume would (entries left mid-way, counts against rows); --repair puts right what can be')
      .argument('<dir>', 'the state folder (--state of the load)')
      .option('--repair', 'repair what is found, as the next resume would', false)
      .option('--json', 'print the result as one JSON object', false)
      .action((dir: string, opts: { repair: boolean; json: boolean }) => {
        const r = checkStateFolder(folderArgument(dir, false), { repair: opts.repair });
        const bad = r.damage.length > 0 || (!r.repaired && r.findings.length > 0);
        const status = r.damage.length > 0 ? 'damaged' : r.findings.length === 0 ? 'consistent' : r.repaired ? 'repaired' : 'findings';
        if (opts.json) ctx.stdout.write(`${JSON.stringify({ status, exitCode: bad ? 1 : 0, ...r, stateDir: shownPath(r.stateDir) })}\n`);
        else {
          ctx.stdout.write(`state ${shownPath(r.stateDir)}: phase ${r.phase}, ${r.entries} entries, ${r.unfinished} unfinished, ${r.failed} failed\n`);
          for (const f of r.findings) ctx.stdout.write(`  ${r.repaired ? 'repaired' : 'found'}: ${f}\n`);
          for (const d of r.damage) ctx.stdout.write(`  damage: ${d}\n`);
          if (r.damage.length > 0) ctx.stdout.write('the state cannot be resumed: start over with --new, a new state folder and an empty container\n');
          else if (r.findings.length === 0) ctx.stdout.write('consistent\n');
          else if (!r.repaired) ctx.stdout.write('a resume repairs these; or run with --repair\n');
        }
        ctx.setExitCode(bad ? 1 : 0);
      });
  },
};
