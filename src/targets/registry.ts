/**
 * Every kind of target, in one place (restic's location registry). The spec union, the options
 * openTarget takes and the URL forms a usage error lists all follow from this list, so adding a
 * kind of target is one factory module and one entry here (DEVELOPERS.md, "How to add a target").
 */
import { azureFactory } from './azure-factory.js';
import type { TargetFactory } from './factory.js';
import { folderFactory } from './folder-factory.js';

/** in the order a usage error lists their URL forms */
export const TARGET_FACTORIES = [folderFactory, azureFactory] as const;

type AnyFactory = (typeof TARGET_FACTORIES)[number];
type SpecOf<F> = F extends TargetFactory<infer S, unknown> ? S : never;
type OpenOptionsOf<F> = F extends TargetFactory<{ kind: string }, infer O> ? O : never;

/** A parsed target URL: `{ kind: 'folder', path }`, `{ kind: 'azure', endpoint, ... }`, ... */
export type TargetSpec = SpecOf<AnyFactory>;

/** Options for the target openTarget opens, by kind: `{ folder: {...}, azure: {...} }`. */
export type OpenTargetOptions = { [F in AnyFactory as F['kind']]?: OpenOptionsOf<F> };

/** The factories seen through the spec union (their methods take any spec: callers pick by kind). */
type Factory = TargetFactory<TargetSpec, unknown>;

const byKind = new Map<string, Factory>(TARGET_FACTORIES.map((f): [string, Factory] => [f.kind, f]));
const byScheme = new Map<string, Factory>(TARGET_FACTORIES.flatMap((f) => f.schemes.map((s): [string, Factory] => [s, f])));

if (byKind.size !== TARGET_FACTORIES.length || byScheme.size !== TARGET_FACTORIES.reduce((n, f) => n + f.schemes.length, 0)) {
  throw new Error('src/targets/registry.ts: two target factories share a kind or a URL scheme');
}

export function factoryForKind(kind: string): Factory | undefined {
  return byKind.get(kind);
}

/** scheme: lowercase, without the ':' */
export function factoryForScheme(scheme: string): Factory | undefined {
  return byScheme.get(scheme);
}

export function allFactories(): readonly Factory[] {
  return TARGET_FACTORIES;
}
