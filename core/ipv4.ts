/**
 * IPv4 address math shared by the layers and the tools, through ip-num (the IPAM's own prefix math
 * for both families is ipam/ip-math.ts): subnet membership, CIDR/range spans and overlap, and
 * Docker's generated MAC for an IPv4 endpoint. One copy: the overlay driver, the Docker plugin,
 * the chaos kit's checks and the test fixtures use these.
 */
import { IPv4, IPv4CidrRange, Validator } from 'ip-num'

/** The address's 32-bit value, or undefined when `ip` is not a dotted-quad IPv4 address. */
export function parseIPv4 (ip: string): bigint | undefined {
  if (typeof ip !== 'string' || !Validator.isValidIPv4String(ip)[0]) return undefined
  return IPv4.fromString(ip).getValue()
}

/** Dotted-quad text of a 32-bit address value. */
export function formatIPv4 (value: bigint): string {
  return IPv4.fromNumber(value).toString()
}

/** Split "a.b.c.d/len" into address and prefix length; undefined if it is not IPv4 CIDR. */
export function parseCidr4 (cidr: string): { ip: string, len: number } | undefined {
  const [ip, lenText, extra] = cidr.split('/')
  if (ip === undefined || lenText === undefined || extra !== undefined || !/^\d{1,2}$/.test(lenText)) return undefined
  if (parseIPv4(ip) === undefined) return undefined
  const len = Number(lenText)
  return len <= 32 ? { ip, len } : undefined
}

/** First and last address of an IPv4 CIDR (host bits ignored), or undefined if it is not one. */
export function cidrSpan4 (cidr: string): [bigint, bigint] | undefined {
  if (parseCidr4(cidr) === undefined) return undefined
  const r = IPv4CidrRange.fromCidr(cidr)
  return [r.getFirst().getValue(), r.getLast().getValue()]
}

/**
 * [first, last] of "10.0.1.0/25" or of a range "10.0.1.0-10.0.1.127" (the IPAM's range notation);
 * throws on anything else.
 */
export function ipv4Span (s: string): [bigint, bigint] {
  if (s.includes('/')) {
    const span = cidrSpan4(s)
    if (span === undefined) throw new Error(`not an IPv4 CIDR: ${s}`)
    return span
  }
  const [a, b, extra] = s.split('-').map(x => x.trim())
  const first = a === undefined ? undefined : parseIPv4(a)
  const last = b === undefined ? undefined : parseIPv4(b)
  if (first === undefined || last === undefined || extra !== undefined) throw new Error(`not a range: ${s}`)
  return [first, last]
}

/** Whether two IPv4 CIDRs (or ranges) share an address; throws if one is neither. */
export function spansOverlap (a: string, b: string): boolean {
  const [a0, a1] = ipv4Span(a)
  const [b0, b1] = ipv4Span(b)
  return a0 <= b1 && b0 <= a1
}

/** Whether IPv4 `ip` lies in IPv4 CIDR `subnet` (false when either is not IPv4). */
export function inSubnet (ip: string, subnet: string): boolean {
  const v = parseIPv4(ip)
  const span = cidrSpan4(subnet)
  return v !== undefined && span !== undefined && v >= span[0] && v <= span[1]
}

/** Docker's generated MAC for an IPv4 endpoint: 02:42 followed by the four address bytes. */
export function macFromIPv4 (ip: string): string {
  return ['02', '42', ...ip.split('.').map(b => Number(b).toString(16).padStart(2, '0'))].join(':')
}
