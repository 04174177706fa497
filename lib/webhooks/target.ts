import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { PermanentError, RetryableError } from '../cron/errors.ts';

/**
 * Where a webhook may go. Endpoints are configured by users, so without a check a URL could point the server at its
 * own network (cloud metadata at 169.254.169.254, an internal admin port). Every address the host name resolves to is
 * checked, and the request then connects to exactly those addresses (see send.ts), so a second DNS answer cannot
 * swap in a private one between the check and the connection (DNS rebinding).
 */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

const v4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  v4.addSubnet(net, prefix, 'ipv4');
}

const v6 = new BlockList();
for (const [net, prefix] of [
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routable on some networks)
  ['ff00::', 8], // multicast
] as const) {
  v6.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, a trailing dotted quad folded in); null if invalid. */
export function ipv6Groups(address: string): number[] | null {
  let s = address.split('%')[0] ?? '';
  const quad = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (quad) {
    const b = quad.slice(1).map(Number);
    if (b.some((x) => x > 255)) return null;
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    s = `${s.slice(0, quad.index)}${hex(b[0]!, b[1]!)}:${hex(b[2]!, b[3]!)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const head = parse(halves[0] ?? '');
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) or NAT64 (64:ff9b::/96) one. */
function embeddedIPv4(g: number[]): string | null {
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const mapped = zeros(0, 5) && g[5] === 0xffff;
  const compatible = zeros(0, 6);
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6);
  if (!mapped && !compatible && !nat64) return null;
  const [hi, lo] = [g[6]!, g[7]!];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** Why an address may not receive webhooks (private, loopback, link-local or reserved), or null if it may. */
export function refusalReason(address: string): string | null {
  const family = isIP(address);
  if (family === 4) return v4.check(address, 'ipv4') ? `${address} is a private, loopback or reserved address` : null;
  if (family === 6) {
    const groups = ipv6Groups(address);
    if (!groups) return `${address} is not a valid IPv6 address`;
    // :: and ::1 are "compatible" forms of 0.0.0.0 and 0.0.0.1, both in 0/8: refused with the rest.
    const inner = embeddedIPv4(groups);
    if (inner !== null) return v4.check(inner, 'ipv4') ? `${address} maps to the private address ${inner}` : null;
    return v6.check(address.split('%')[0] ?? address, 'ipv6')
      ? `${address} is a private, link-local or multicast address`
      : null;
  }
  return `${address} is not an IP address`;
}

/**
 * Checks a webhook URL before it is called: http(s) only, and (unless private targets are allowed) every address its
 * host resolves to must be public. Returns the addresses to connect to ([] = let the system resolve: private targets
 * allowed). A refusal is permanent for the delivery; a DNS failure is retried.
 */
export async function checkTarget(
  url: URL,
  options: { allowPrivate: boolean; resolve: Resolver },
): Promise<ResolvedAddress[]> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new PermanentError(`refused target: ${url.protocol} URLs are not allowed`, { code: 'refused_target' });
  }
  if (options.allowPrivate) return [];
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await options.resolve(host);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'dns';
      throw new RetryableError(`could not resolve ${host}: ${code}`, { code: `dns/${code}`, cause: e });
    }
    if (addresses.length === 0) throw new RetryableError(`${host} resolved to no address`, { code: 'dns/empty' });
  }
  for (const a of addresses) {
    const reason = refusalReason(a.address);
    if (reason) {
      throw new PermanentError(`refused target: ${host} → ${reason} (set WEBHOOKS_ALLOW_PRIVATE=1 to allow)`, {
        code: 'refused_target',
      });
    }
  }
  return addresses;
}
