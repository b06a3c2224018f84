/** IPv4 prefix arithmetic for the checks (pools overlapping, an address inside its subnet). */

export function ipToInt (ip: string): number {
  const parts = ip.split('.')
  if (parts.length !== 4 || parts.some(p => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`not an IPv4 address: ${ip}`)
  return parts.reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0)
}

/** [first, last] addresses of a CIDR, as unsigned integers. */
export function cidrRange (cidr: string): [number, number] {
  const [ip, lenText] = cidr.split('/')
  const len = Number(lenText)
  if (ip === undefined || !Number.isInteger(len) || len < 0 || len > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`)
  const size = 2 ** (32 - len)
  const first = Math.floor(ipToInt(ip) / size) * size
  return [first, first + size - 1]
}

export function overlaps (a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a)
  const [b0, b1] = cidrRange(b)
  return a0 <= b1 && b0 <= a1
}

export function ipInCidr (ip: string, cidr: string): boolean {
  const [first, last] = cidrRange(cidr)
  const n = ipToInt(ip)
  return n >= first && n <= last
}

/** "10.0.1.0/25" or a range "10.0.1.0-10.0.1.127" (the IPAM's range notation). */
export function rangeOf (s: string): [number, number] {
  if (s.includes('/')) return cidrRange(s)
  const [a, b] = s.split('-')
  if (a === undefined || b === undefined) throw new Error(`not a range: ${s}`)
  return [ipToInt(a.trim()), ipToInt(b.trim())]
}
