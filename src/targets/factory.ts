/**
 * What a kind of target tells the registry (restic's location.Factory): the URL schemes it reads,
 * how to parse and redact its URLs, the key a state folder stores for it, and how to open it.
 * One module per kind (folder-factory.ts, azure-factory.ts), listed once in registry.ts.
 */
import { ClfsError } from '../errors/index.js';
import type { Target } from './target.js';

export interface TargetFactory<Spec extends { kind: string }, OpenOptions> {
  /** Spec['kind'], also the name of this kind's entry in OpenTargetOptions */
  readonly kind: Spec['kind'];
  /** URL schemes, lowercase, without the ':' */
  readonly schemes: readonly string[];
  /** the URL forms, for the "expected ..." part of a usage error */
  readonly forms: readonly string[];
  /**
   * Parse without touching the network. `text` is trimmed, non-empty and starts with one of
   * `schemes`; throw `context.bad(why)` (or another E_USAGE naming context.shown) when it is wrong.
   */
  parse(text: string, context: ParseContext): Spec;
  /** the URL with its secrets replaced, for messages; applied to any text the user gave as a URL */
  redact(url: string): string;
  /**
   * What a state folder stores to know its target again: no secrets, and stable across versions
   * (a different key makes an existing state folder refuse to resume).
   */
  key(spec: Spec): string;
  open(spec: Spec, options?: OpenOptions): Target;
}

export interface ParseContext {
  /** the URL as it may be shown (redacted) */
  readonly shown: string;
  /** E_USAGE: "bad target URL SHOWN: WHY; expected ..." */
  bad(why: string): ClfsError;
  /** new URL(text), or bad('not a URL') */
  url(text: string): URL;
}
