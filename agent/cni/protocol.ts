/**
 * The CNI protocol's data (SPEC.md of containernetworking/cni, spec 1.1.0, read back to 0.3.0):
 * the versions this plugin speaks, the well-known error codes, the error and result objects and
 * how a result is written for the version the runtime asked in.
 *
 * No imports: this module is on the container start path (see main.ts).
 */

/** Oldest first. 0.1.0 and 0.2.0 results had another shape (ip4/ip6): not offered. */
export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const
export const LATEST_VERSION = '1.1.0'

/** SPEC.md "Error": 0-99 are the spec's, 100+ the plugin's own. */
export const ErrorCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodingFailure: 6,
  invalidConfig: 7,
  invalidNetns: 8,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  limitedConnectivity: 51,
  /** ovnet: the agent has no record of the attachment CHECK was asked about. */
  attachmentUnknown: 100,
  /** ovnet: the container's interface, address or routes are not what ADD set up (CHECK). */
  attachmentBroken: 101,
  /** ovnet: the agent refused or failed the request for another reason. */
  agentFailed: 102,
  /** Go's skel uses 999 for an error that is none of the above. */
  internal: 999
} as const

/** A failure to report as a CNI error object on stdout (and a non-zero exit). */
export class CniError extends Error {
  constructor (readonly code: number, message: string, readonly details = '') {
    super(message)
    this.name = 'CniError'
  }
}

export interface CniErrorObject {
  cniVersion: string
  code: number
  msg: string
  details?: string
}

export function errorObject (err: CniError, cniVersion: string): CniErrorObject {
  return { cniVersion, code: err.code, msg: err.message, ...(err.details === '' ? {} : { details: err.details }) }
}

/** [major, minor, patch] of a "x.y.z" version, or undefined. */
export function parseVersion (v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v)
  if (m === null) return undefined
  return [Number(m[1]), Number(m[2]), Number(m[3])]
}

/** a >= b for two parseable versions. */
export function versionAtLeast (a: string, b: string): boolean {
  const x = parseVersion(a)
  const y = parseVersion(b)
  if (x === undefined || y === undefined) return false
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! > y[i]!
  return true
}

export function isSupported (v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v)
}

export interface CniInterface {
  name: string
  mac?: string
  mtu?: number
  sandbox?: string
}

export interface CniIpConfig {
  address: string
  gateway?: string
  interface?: number
  /** 0.3.x and 0.4.0 only: "4" or "6". */
  version?: string
}

export interface CniRoute {
  dst: string
  gw?: string
}

export interface CniDns {
  nameservers?: string[]
  domain?: string
  search?: string[]
  options?: string[]
}

export interface CniResult {
  cniVersion: string
  interfaces?: CniInterface[]
  ips?: CniIpConfig[]
  routes?: CniRoute[]
  dns?: CniDns
}

/** The result in the shape of `cniVersion`: 0.3.x/0.4.0 name each address's IP version, 1.x does not. */
export function resultFor (cniVersion: string, r: Omit<CniResult, 'cniVersion'>): CniResult {
  const legacy = !versionAtLeast(cniVersion, '1.0.0')
  const ips = r.ips?.map(ip => {
    const { version: _v, ...rest } = ip
    return legacy ? { version: ip.address.includes(':') ? '6' : '4', ...rest } : rest
  })
  return {
    cniVersion,
    ...(r.interfaces === undefined ? {} : { interfaces: r.interfaces }),
    ...(ips === undefined ? {} : { ips }),
    ...(r.routes === undefined ? {} : { routes: r.routes }),
    ...(r.dns === undefined ? {} : { dns: r.dns })
  }
}

/** VERSION's answer: the version asked in (the latest when none or an unknown one) and ours. */
export function versionResult (asked: string | undefined): { cniVersion: string, supportedVersions: string[] } {
  const cniVersion = asked !== undefined && parseVersion(asked) !== undefined ? asked : LATEST_VERSION
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] }
}
