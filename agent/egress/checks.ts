/**
 * Checks of every value the egress room writes into an iptables-restore or `ip -batch` line, or
 * into a path: run before the first line is made, so a value with a newline, a space, NUL, `..`
 * or anything outside its syntax never reaches a batch (where a newline would be a second rule).
 * The values come from the controller (records other hosts wrote, decoded and checked in proto/,
 * and the local API): these checks are the last line, at the writer.
 */
import { isIP } from 'node:net'

/** A value refused before any batch line was written. */
export class UnsafeEgressInputError extends Error {
  constructor (what: string, value: unknown) {
    super(`refusing ${what} ${JSON.stringify(value)?.slice(0, 100) ?? String(value)}: not written to any batch`)
    this.name = 'UnsafeEgressInputError'
  }
}

const SANDBOX_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,254}$/
const UPLINK_RE = /^ovu[A-Za-z0-9_-]{1,12}$/

export function ipv4 (what: string, v: unknown): string {
  if (typeof v !== 'string' || !/^\d{1,3}(\.\d{1,3}){3}$/.test(v) || isIP(v) !== 4) {
    throw new UnsafeEgressInputError(what, v)
  }
  return v
}

export function cidr4 (what: string, v: unknown): string {
  if (typeof v !== 'string') throw new UnsafeEgressInputError(what, v)
  const [a, len, extra] = v.split('/')
  const lenOk = len !== undefined && /^\d{1,2}$/.test(len) && Number(len) <= 32
  if (a === undefined || !lenOk || extra !== undefined) throw new UnsafeEgressInputError(what, v)
  ipv4(what, a)
  return v
}

export function port (what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new UnsafeEgressInputError(what, v)
  return v
}

export function proto (v: unknown): 'tcp' | 'udp' {
  if (v !== 'tcp' && v !== 'udp') throw new UnsafeEgressInputError('protocol', v)
  return v
}

/** A sandbox (network namespace) name: also a path under /run/netns, so no `/` and no `..`. */
export function sandbox (v: unknown): string {
  if (typeof v !== 'string' || !SANDBOX_RE.test(v) || v.includes('..')) {
    throw new UnsafeEgressInputError('sandbox name', v)
  }
  return v
}

export function uplinkDev (v: unknown): string {
  if (typeof v !== 'string' || !UPLINK_RE.test(v)) throw new UnsafeEgressInputError('uplink device name', v)
  return v
}
