/**
 * One page of a List Blobs answer (the service's XML), read for what a Target's list gives: each
 * blob's name and Content-Length, and the marker of the next page.
 *
 * Why not an XML library: through the SDK (fast-xml-parser, then the SDK's deserializer, which
 * builds every property of every blob) a page cost about 350 µs of CPU per blob listed; a
 * structure-only verify of a 2,000-file container spent 0.7 s of its main thread on its listing
 * alone, and a container of a million blobs would spend minutes. This reads the few elements it
 * needs by search. The answer's shape is the service's (List Blobs, flat: `<Blob>` elements each
 * with `<Name>` and `<Properties><Content-Length>`, then `<NextMarker>`); text is entity-decoded,
 * and a name the service percent-encoded (`<Name Encoded="true">`, for characters XML 1.0 cannot
 * hold) is decoded back.
 */

export interface ListBlobsPage {
  items: Array<{ name: string; sizeBytes: number }>;
  /** the marker of the next page; undefined on the last */
  next: string | undefined;
}

const ENTITY = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** XML character data with its entity and character references replaced. */
export function xmlText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(ENTITY, (_, hexCode: string | undefined, dec: string | undefined, named: string | undefined) =>
    named !== undefined ? NAMED[named]! : String.fromCodePoint(hexCode !== undefined ? parseInt(hexCode, 16) : parseInt(dec!, 10)),
  );
}

class ListXmlError extends Error {}

/** The text of the first `<tag ...>text</tag>` in xml[from, to), with its attributes; undefined when absent. */
function element(xml: string, tag: string, from: number, to: number): { attrs: string; text: string; end: number } | undefined {
  let at = from;
  for (;;) {
    at = xml.indexOf(`<${tag}`, at);
    if (at < 0 || at >= to) return undefined;
    const after = xml.charCodeAt(at + tag.length + 1);
    // `<Name` must not match `<NameX`
    if (after === 0x3e /* > */ || after === 0x20 || after === 0x2f /* / */ || after === 0x09 || after === 0x0a || after === 0x0d) break;
    at += tag.length + 1;
  }
  const close = xml.indexOf('>', at);
  if (close < 0 || close >= to) throw new ListXmlError(`<${tag}> is cut off`);
  const attrs = xml.slice(at + tag.length + 1, close);
  if (attrs.endsWith('/')) return { attrs: attrs.slice(0, -1), text: '', end: close + 1 };
  const endTag = xml.indexOf(`</${tag}>`, close + 1);
  if (endTag < 0 || endTag >= to) throw new ListXmlError(`<${tag}> has no end`);
  return { attrs, text: xml.slice(close + 1, endTag), end: endTag + tag.length + 3 };
}

/** Reads one List Blobs page; throws an Error naming what is missing when the answer is not one. */
export function parseListBlobsPage(xml: string): ListBlobsPage {
  try {
    if (!xml.includes('<EnumerationResults')) throw new ListXmlError('no <EnumerationResults>');
    const items: ListBlobsPage['items'] = [];
    const blobsEnd = xml.lastIndexOf('</Blobs>');
    let at = xml.indexOf('<Blobs>');
    if (at >= 0) {
      for (;;) {
        const start = xml.indexOf('<Blob>', at);
        if (start < 0 || (blobsEnd >= 0 && start > blobsEnd)) break;
        const end = xml.indexOf('</Blob>', start);
        if (end < 0) throw new ListXmlError('<Blob> has no end');
        const name = element(xml, 'Name', start, end);
        if (name === undefined) throw new ListXmlError('a <Blob> without <Name>');
        const encoded = /\bEncoded\s*=\s*["']true["']/i.test(name.attrs);
        const text = xmlText(name.text);
        const length = element(xml, 'Content-Length', name.end, end);
        const size = length === undefined ? 0 : Number(length.text.trim());
        if (!Number.isSafeInteger(size) || size < 0) throw new ListXmlError(`Content-Length ${JSON.stringify(length?.text)}`);
        items.push({ name: encoded ? decodeURIComponent(text) : text, sizeBytes: size });
        at = end + 7;
      }
    }
    const marker = element(xml, 'NextMarker', blobsEnd >= 0 ? blobsEnd : 0, xml.length);
    const next = marker === undefined ? undefined : xmlText(marker.text);
    return { items, next: next === '' || next === undefined ? undefined : next };
  } catch (e) {
    if (e instanceof ListXmlError) throw new Error(`the service's blob listing could not be read: ${e.message}`);
    throw e;
  }
}
