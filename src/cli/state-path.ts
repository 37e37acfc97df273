import { createHash } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';

/** Default state folder for a target: under the user's state directory, one folder per target. */
export function defaultStateDir(targetKey: string): string {
  const base = process.env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state');
  const readable = targetKey.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-60);
  const hash = createHash('sha256').update(targetKey).digest('hex').slice(0, 12);
  return path.join(base, 'clfsload', `${readable}-${hash}`);
}
