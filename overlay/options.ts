/** Parsing and validation of the options and IPAM data the controller hands the overlay driver. */
import { inSubnet, parseCidr4 } from '../core/index.js'
import { GENERIC_DATA, InvalidParameterError, type IPAMData } from './driverapi.js'

const NODE_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/

/** Node names end up in namespace names: keep them to safe file-name characters. */
export function validNodeName (name: string): boolean {
  return NODE_NAME_RE.test(name)
}

/**
 * A string option, looked up among the generic (`-o`) options first, then at the top level
 * (Swarm hands NetworkAllocate's results back flat).
 */
export function optionValue (options: Record<string, unknown>, key: string): string | undefined {
  const generic = options[GENERIC_DATA]
  const v = (typeof generic === 'object' && generic !== null ? (generic as Record<string, unknown>)[key] : undefined) ??
    options[key]
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') return v
  if (typeof v === 'number') return String(v)
  throw new InvalidParameterError(`option ${key} must be a string`)
}

export function validMtu (m: number): boolean {
  return Number.isInteger(m) && m >= 576 && m <= 65535
}

/** ovnet's overlay carries one IPv4 subnet per network (one VNI, one bridge). */
export function checkIpam (ipV4Data: IPAMData[], ipV6Data: IPAMData[]): void {
  if (ipV4Data.length !== 1) {
    throw new InvalidParameterError(`overlay networks need exactly one IPv4 subnet, got ${ipV4Data.length}`)
  }
  if (ipV6Data.length > 0) throw new InvalidParameterError('IPv6 is not supported on overlay networks')
  const d = ipV4Data[0] as IPAMData
  if (parseCidr4(d.pool) === undefined) throw new InvalidParameterError(`invalid subnet ${d.pool}`)
  if (d.gateway !== undefined) {
    const g = parseCidr4(d.gateway)
    if (g === undefined || !inSubnet(g.ip, d.pool)) {
      throw new InvalidParameterError(`invalid gateway ${d.gateway} for subnet ${d.pool}`)
    }
  }
}
