/**
 * From what a user types to a Target: thin lookups in the registry (registry.ts), which lists
 * every kind of target with its URL forms (`file:///ABS/DIR` for a folder, a container SAS URL
 * `https://ACCOUNT.blob.core.windows.net/CONTAINER?SAS` or, for Azurite,
 * `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER?SAS`).
 */
import { ClfsError } from '../errors/index.js';
import type { ParseContext } from './factory.js';
import { allFactories, factoryForKind, factoryForScheme, type OpenTargetOptions, type TargetSpec } from './registry.js';
import type { Target } from './target.js';

export type { OpenTargetOptions, TargetSpec } from './registry.js';

export interface ParseTargetUrlOptions {
  /**
   * account endpoint (https://ACCOUNT.blob.core.windows.net or http://127.0.0.1:PORT/devstoreaccount1)
   * against which a bare `CONTAINER?SAS` is read
   */
  endpoint?: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

function expected(): string {
  const forms = allFactories().flatMap((f) => f.forms);
  return `expected ${forms.length > 1 ? `${forms.slice(0, -1).join(', ')} or ${forms.at(-1)}` : forms.join('')}`;
}

/** Parse without touching the network. Throws E_USAGE naming the URL and the expected forms. */
export function parseTargetUrl(url: string, options: ParseTargetUrlOptions = {}): TargetSpec {
  const shown = redact(url);
  const bad = (why: string): ClfsError =>
    new ClfsError('E_USAGE', `bad target URL ${shown}: ${why}; ${expected()}`, { subject: shown });
  const context: ParseContext = {
    shown,
    bad,
    url(text) {
      try {
        return new URL(text);
      } catch {
        throw bad('not a URL');
      }
    },
  };

  let text = url.trim();
  if (text === '') throw bad('empty');
  if (options.endpoint !== undefined && !SCHEME.test(text)) {
    text = `${options.endpoint.replace(/\/+$/, '')}/${text.replace(/^\/+/, '')}`;
  }
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  const factory = scheme === undefined ? undefined : factoryForScheme(scheme);
  if (factory !== undefined) return factory.parse(text, context);
  throw bad(`unsupported scheme ${context.url(text).protocol}`);
}

/** A Target for a spec or URL (parsed with parseTargetUrl); options are by kind. */
export function openTarget(specOrUrl: TargetSpec | string, options: OpenTargetOptions = {}): Target {
  const spec = typeof specOrUrl === 'string' ? parseTargetUrl(specOrUrl) : specOrUrl;
  return factoryOf(spec).open(spec, options[spec.kind]);
}

/**
 * The key a state folder stores for this target: `file:/ABS/DIR`, `azure:ENDPOINT/CONTAINER`.
 * No secrets; a load resumes only against the same key.
 */
export function targetKey(spec: TargetSpec): string {
  return factoryOf(spec).key(spec);
}

/**
 * The URL with its secrets (a SAS signature) replaced, for messages. Every kind's redaction is
 * applied, not only the one its scheme names: a mistyped scheme must not show a secret either.
 */
export function redact(url: string): string {
  return allFactories().reduce((text, factory) => factory.redact(text), url);
}

function factoryOf(spec: TargetSpec) {
  const factory = factoryForKind(spec.kind);
  if (factory === undefined) throw new ClfsError('E_INTERNAL', `no target factory for kind ${String(spec.kind)}`);
  return factory;
}
