/** Small IPv4 helpers of the overlay driver (subnet membership, Docker's generated MACs). */
import { isIP } from 'node:net'

export function ipv4ToInt (ip: string): number {
  const parts = ip.split('.').map(Number)
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0
}

/** Split "a.b.c.d/len" into address and prefix length; undefined if it is not IPv4 CIDR. */
export function parseCidr4 (cidr: string): { ip: string, len: number } | undefined {
  const [ip, lenText, extra] = cidr.split('/')
  if (ip === undefined || lenText === undefined || extra !== undefined || isIP(ip) !== 4 || !/^\d{1,2}$/.test(lenText)) return undefined
  const len = Number(lenText)
  return len <= 32 ? { ip, len } : undefined
}

/** Whether IPv4 `ip` lies in IPv4 CIDR `subnet`. */
export function inSubnet (ip: string, subnet: string): boolean {
  const s = parseCidr4(subnet)
  if (s === undefined || isIP(ip) !== 4) return false
  const mask = s.len === 0 ? 0 : (~0 << (32 - s.len)) >>> 0
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(s.ip) & mask) >>> 0)
}

/** Docker's generated MAC for an IPv4 endpoint: 02:42 followed by the address bytes. */
export function macFromIPv4 (ip: string): string {
  return ['02', '42', ...ip.split('.').map(b => Number(b).toString(16).padStart(2, '0'))].join(':')
}
