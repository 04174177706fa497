/**
 * Reads a request body as UTF-8 text without ever holding more than `maxBytes` of it: a declared `content-length`
 * over the cap is refused before a byte is read, and the stream itself is counted in bytes (not characters: "é" is
 * two), so a chunked body or one whose content-length lies is cut off at the cap too. The same two checks as srvx's
 * limitRequestBody and hono's bodyLimit; 25 lines do not need either framework.
 */
export type BodyRead = { ok: true; text: string } | { ok: false; status: 400 | 413; error: string };

export async function readBodyCapped(request: Request, maxBytes: number): Promise<BodyRead> {
  const tooLarge = { ok: false, status: 413, error: `body: larger than ${maxBytes} bytes` } as const;
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (!/^\d+$/.test(declared.trim())) return { ok: false, status: 400, error: 'content-length: not a number' };
    if (Number(declared) > maxBytes) return tooLarge;
  }
  if (!request.body) return { ok: true, text: '' };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      // Stop pulling: the rest of the body is never read into memory.
      await reader.cancel().catch(() => {});
      return tooLarge;
    }
    chunks.push(value);
  }
  try {
    // fatal: bytes that are not UTF-8 are refused like any other body that is not JSON text.
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)) };
  } catch {
    return { ok: false, status: 400, error: 'body: not UTF-8 text' };
  }
}
