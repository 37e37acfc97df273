/**
 * The one printer of byte names and paths, for every message and listing of the tool (load logs
 * and problems, verify's problems, ls, export): names are bytes, not always valid UTF-8. It lives
 * here because scan, load and read all print paths and scan is the layer all three may import.
 */

export interface DisplayPathOptions {
  /**
   * Also print `\` as `\\`, so the output can be read back to the same bytes (`ls` prints names a
   * user may type again). Messages leave `\` as it is, as they always have.
   */
  escapeBackslash?: boolean;
}

const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * Valid UTF-8 printed as is; a byte that starts no valid UTF-8 sequence, and the control bytes
 * (0x00-0x1f, 0x7f, so a name never breaks a line), as `\xNN`.
 */
export function displayPath(bytes: Buffer, options: DisplayPathOptions = {}): string {
  const escapeBackslash = options.escapeBackslash === true;
  const text = bytes.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(bytes) && !CONTROL.test(text) && !(escapeBackslash && text.includes('\\'))) return text;
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    const b = bytes[i]!;
    if (n === 0 || (n === 1 && (b < 0x20 || b === 0x7f))) {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i++;
    } else if (n === 1 && b === 0x5c && escapeBackslash) {
      out += '\\\\';
      i++;
    } else {
      out += bytes.subarray(i, i + n).toString('utf8');
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at i, or 0 when the byte starts none (overlongs and surrogates included). */
export function utf8SequenceLength(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    min = 0x10000;
  } else return 0;
  if (i + n > b.length) return 0;
  let cp = c & (0xff >> (n + 1));
  for (let k = 1; k < n; k++) {
    const cc = b[i + k]!;
    if ((cc & 0xc0) !== 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

const HEX2 = /^[0-9a-f]{2}$/;

/**
 * The inverse of `displayPath(bytes, { escapeBackslash: true })` (the spelling `ls` prints): the
 * bytes it was printed from, or undefined when `text` is not such a spelling (a `\` that starts
 * no `\\` or `\xNN`, or an escape the printer would not have made, such as `\x41` for `A`). So a
 * name typed back as `ls` showed it resolves to exactly that name, and nothing else parses.
 */
export function parseDisplayPath(text: string): Buffer | undefined {
  if (!text.includes('\\')) {
    const bytes = Buffer.from(text, 'utf8');
    return displayPath(bytes, { escapeBackslash: true }) === text ? bytes : undefined;
  }
  const parts: Buffer[] = [];
  let plain = '';
  const takePlain = () => {
    if (plain.length > 0) parts.push(Buffer.from(plain, 'utf8'));
    plain = '';
  };
  for (let i = 0; i < text.length; ) {
    const c = text[i]!;
    if (c !== '\\') {
      plain += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '\\') {
      plain += '\\';
      i += 2;
    } else if (next === 'x' && HEX2.test(text.slice(i + 2, i + 4))) {
      takePlain();
      parts.push(Buffer.from([parseInt(text.slice(i + 2, i + 4), 16)]));
      i += 4;
    } else return undefined;
  }
  takePlain();
  const bytes = Buffer.concat(parts);
  // only the printer's own spellings: anything else would make two spellings of one name
  return displayPath(bytes, { escapeBackslash: true }) === text ? bytes : undefined;
}
