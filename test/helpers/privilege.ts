/**
 * Tests that need root (mounting a small tmpfs). We run as root here and in CI, so these run: a
 * skip is allowed only where root is out of reach, never as the answer to a command failing
 * under root.
 */
import type { TestContext } from 'node:test';
import { execFileSync } from 'node:child_process';

export const isRoot = process.getuid?.() === 0;

/**
 * Mount a tmpfs with `options` (e.g. 'size=256k') on `dir`. Not root: skips the test and returns
 * false. Root: a failing mount throws, failing the test.
 */
export function mountTmpfs(t: TestContext, dir: string, options: string): boolean {
  if (!isRoot) {
    t.skip('mounting a small tmpfs needs root');
    return false;
  }
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return true;
}

