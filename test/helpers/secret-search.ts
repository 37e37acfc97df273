/**
 * Where a secret turns up after a run: its output, every file in its state folder, and every blob
 * in the container (the run log is uploaded at the end). Each secret is searched as given, URL-
 * encoded and URL-decoded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Target } from '../../src/index.js';

export interface RunOutput {
  stdout: string;
  stderr: string;
}

/** Every file under `dir`, read whole. */
export function filesUnder(dir: string): Array<{ file: string; data: Buffer }> {
  const out: Array<{ file: string; data: Buffer }> = [];
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const full = path.join(entry.parentPath ?? (entry as { path?: string }).path ?? dir, entry.name);
    if (entry.isFile()) out.push({ file: full, data: fs.readFileSync(full) });
  }
  return out;
}

/** The places (as "WHERE holds SECRET-PREFIX...") each secret was found; [] when none. */
/** `stateMayBeMissing`: a run that stopped before it made its state folder (a refused credential). */
export async function secretFindings(secrets: readonly string[], run: RunOutput, stateDir: string, container: Target, options: { stateMayBeMissing?: boolean } = {}): Promise<string[]> {
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const forms = [...new Set(secrets.flatMap((s) => [s, encodeURIComponent(s), decode(s)]))].filter((s) => s.length >= 8);
  assert(forms.length > 0, 'secrets to search for');
  const found: string[] = [];
  const check = (where: string, data: Buffer | string) => {
    const text = typeof data === 'string' ? data : data.toString('latin1');
    for (const f of forms) if (text.includes(f)) found.push(`${where} holds ${f.slice(0, 12)}...`);
  };
  check('stdout', run.stdout);
  check('stderr', run.stderr);
  const files = filesUnder(stateDir);
  assert(files.length > 0 || options.stateMayBeMissing === true, `the state folder ${stateDir} has files to search`);
  for (const { file, data } of files) check(file, data);
  for await (const b of container.list('')) check(`blob ${b.name}`, await container.get(b.name));
  return found;
}

function assert(ok: boolean, what: string): void {
  if (!ok) throw new Error(`secret search: no ${what}`);
}
