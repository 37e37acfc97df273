/**
 * @azure/storage-blob, loaded on first use. Importing it costs about 0.25 s of CPU at start-up,
 * which a load into a local folder (and every `--help`) never needs; the CommonJS build is
 * loaded with require so that opening a target can stay synchronous. Every runtime use of the SDK
 * in src/ goes through here, so one module instance is used throughout.
 */
import { createRequire } from 'node:module';
import type * as Sdk from '@azure/storage-blob';

let sdk: typeof Sdk | undefined;

export function azureSdk(): typeof Sdk {
  sdk ??= createRequire(import.meta.url)('@azure/storage-blob') as typeof Sdk;
  return sdk;
}
