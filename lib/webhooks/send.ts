import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { ResolvedAddress } from './target.ts';

export interface PostResult {
  status: number;
  /** The start of the response body (for the delivery's last_error), never more than `maxResponseBytes` read. */
  snippet: string;
  retryAfter: string | null;
  location: string | null;
}

/** Connects only to the addresses that were checked: the system resolver is never asked again for this request. */
function pinnedLookup(addresses: ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = typeof options === 'object' ? options.family : options;
    const usable = addresses.filter((a) => !family || a.family === family);
    const list = usable.length > 0 ? usable : addresses;
    const first = list[0];
    if (!first) {
      callback(Object.assign(new Error('no address to connect to'), { code: 'ENOTFOUND' }), '', 4);
      return;
    }
    if (typeof options === 'object' && options.all) {
      (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, list);
    } else {
      callback(null, first.address, first.family);
    }
  };
}

/**
 * POSTs a body with node:http(s) rather than fetch: it lets the connection be pinned to checked addresses, it never
 * follows redirects (a 3xx is just a status), and the response is read up to `maxResponseBytes` and then dropped.
 * Rejects on network errors and when `signal` aborts (the caller's timeout).
 */
export function postJson(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: { signal: AbortSignal; pinned: ResolvedAddress[]; maxResponseBytes: number },
): Promise<PostResult> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<PostResult>((resolve, reject) => {
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        signal: options.signal,
        // A fresh connection per delivery: no pooled socket outlives the check, nothing lingers in a frozen function.
        agent: false,
        ...(options.pinned.length > 0 ? { lookup: pinnedLookup(options.pinned) } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const finish = () =>
          resolve({
            status: res.statusCode ?? 0,
            snippet: Buffer.concat(chunks).toString('utf8', 0, Math.min(size, 300)),
            retryAfter: headerValue(res.headers['retry-after']),
            location: headerValue(res.headers.location),
          });
        res.on('data', (chunk: Buffer) => {
          if (size >= options.maxResponseBytes) return;
          chunks.push(chunk);
          size += chunk.length;
          if (size >= options.maxResponseBytes) {
            // Enough: the status is known, the rest of a huge (or endless) answer is not read.
            finish();
            res.destroy();
          }
        });
        res.on('end', finish);
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}
