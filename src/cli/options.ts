/** Option value parsers shared by the commands: a bad value is a usage error naming the option. */
import { InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { isClfsError, parseBwlimit, parseRequestRate } from '../index.js';
import type { LogLevel, RateSchedule } from '../index.js';

/** Requests in flight a user may ask for: above this the sockets and queues cost more than they hide. */
export const MAX_CONCURRENCY = 1024;

export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const r = z.coerce.number().int().min(min).max(max).safeParse(value);
    if (!r.success) throw new InvalidArgumentError(`${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
    return r.data;
  };
}

export function logLevelOf(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  const byName: Record<string, LogLevel> = { debug: 'debug', info: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'error' };
  if (byName[v]) return byName[v]!;
  const n = Number(v);
  if (Number.isInteger(n)) return n <= 10 ? 'debug' : n <= 20 ? 'info' : n <= 30 ? 'warn' : 'error';
  throw new InvalidArgumentError('log level must be debug, info, warning or error (or a number)');
}

/** A repeatable option's values, in the order given. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function asArgumentError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (isClfsError(err)) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

export function bwlimitOption(value: string): RateSchedule {
  return asArgumentError(() => parseBwlimit(value));
}

/** undefined for `off` (commander then leaves the option unset) */
export function requestRateOption(value: string): number | undefined {
  return asArgumentError(() => parseRequestRate(value));
}
