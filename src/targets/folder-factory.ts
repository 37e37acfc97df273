/** `file:///ABS/DIR`: a local folder, one file per blob (folder-target.ts). */
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClfsError } from '../errors/index.js';
import type { TargetFactory } from './factory.js';
import { FolderTarget, type FolderTargetOptions } from './folder-target.js';

export interface FolderSpec {
  kind: 'folder';
  /** absolute path */
  path: string;
}

export const folderFactory: TargetFactory<FolderSpec, FolderTargetOptions> = {
  kind: 'folder',
  schemes: ['file'],
  forms: ['file:///ABS/DIR'],

  parse(text, context) {
    // WHATWG URL parsing reads file:relative/dir as file:///relative/dir: a folder at the root,
    // not the relative one the user meant. A folder URL must spell its absolute path.
    const rest = /^file:(.*)$/is.exec(text)?.[1] ?? '';
    if (!rest.startsWith('/')) {
      throw new ClfsError(
        'E_USAGE',
        `bad target URL ${context.shown}: a folder URL needs an absolute path, file:///ABS/DIR; for this folder: ${pathToFileURL(resolve(rest.replace(/[?#].*$/s, ''))).href}`,
        { subject: context.shown },
      );
    }
    const parsed = context.url(text);
    if (parsed.search !== '' || parsed.hash !== '') throw context.bad('a folder URL takes no query');
    let path: string;
    try {
      path = fileURLToPath(parsed);
    } catch {
      // file://dir/x: "dir" was read as a host name
      throw context.bad(`not an absolute local path (a folder URL has three slashes: file:///ABS/DIR)`);
    }
    return { kind: 'folder', path: path.length > 1 ? path.replace(/\/+$/, '') : path };
  },

  /** a path holds no secret */
  redact: (url) => url,

  key: (spec) => `file:${spec.path}`,

  open: (spec, options) => new FolderTarget(spec.path, options),
};
