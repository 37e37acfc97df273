/** Loads format/vectors/lz4/index.json and its files (vectors README, "lz4/index.json"). */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { PayloadSpec } from './payload-generators.js';

/** The repository's copy of the shared vectors; tests never read ../shared. */
export const LZ4_VECTORS_DIR = new URL('../../../format/vectors/lz4/', import.meta.url);

interface FileRef {
  size?: number;
  sha256: string;
  file: string;
  gzip: boolean;
  hex?: string;
}

export interface Lz4FrameBlockInfo {
  offset: number;
  size_field: string;
  stored_uncompressed: boolean;
  length: number;
}

export interface Lz4VectorCase {
  id: string;
  description: string;
  outcome?: string;
  payload: PayloadSpec & FileRef & { length: number; head_hex: string };
  blob: FileRef;
  header: { encryption_type: number; compression_type: number };
  compressed: boolean;
  decoder_only: boolean;
  frame?: {
    flg: string;
    bd: string;
    header_hex: string;
    block_linked: boolean;
    block_checksum: boolean;
    content_size: boolean;
    content_checksum: boolean;
    frame_length: number;
    blocks: Lz4FrameBlockInfo[];
  };
}

export function loadLz4Cases(): Lz4VectorCase[] {
  const index = JSON.parse(readFileSync(new URL('index.json', LZ4_VECTORS_DIR), 'utf8')) as { cases: Lz4VectorCase[] };
  return index.cases;
}

/** The bytes of a file reference; `file` is relative to format/vectors/ ("lz4/…"). */
export function readVectorFile(ref: FileRef): Buffer {
  const raw = readFileSync(new URL(`../${ref.file}`, LZ4_VECTORS_DIR));
  return ref.gzip ? gunzipSync(raw) : raw;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
