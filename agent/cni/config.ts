/**
 * The plugin's network configuration, read from stdin and checked by hand (zod would cost the
 * container start path tens of milliseconds of module loading; see main.ts):
 *
 *   {"cniVersion": "1.0.0", "name": "NAME", "type": "ovnet", "network": "<ovnet network>",
 *    "socket": "/run/ovnet/ovnet.sock"?, "mtu": 1400?, "dns": {...}?}
 *
 * An `ipam` section is an error (code 2, unsupported field): the agent's global IPAM gives every
 * address, and silently ignoring a section the administrator wrote (say host-local with a subnet)
 * would hand out addresses from somewhere else than the file says.
 */
import {
  CniError, ErrorCode, isSupported, LATEST_VERSION, SUPPORTED_VERSIONS, type CniDns, type CniResult
} from './protocol.js'

export const DEFAULT_SOCKET = '/run/ovnet/ovnet.sock'

/** CNI's rule for network names and container ids. */
export const CNI_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

export interface NetConf {
  cniVersion: string
  /** The CNI network (config) name. */
  name: string
  type: string
  /** The ovnet network: a name, id or id prefix. */
  network: string
  socket: string
  mtu?: number
  dns?: CniDns
  /** runtimeConfig.ips (capability "ips"): a requested address, CIDR or plain. */
  ip?: string
  /** runtimeConfig.mac (capability "mac"). */
  mac?: string
  prevResult?: CniResult
  /** GC: `cni.dev/valid-attachments`. */
  validAttachments?: Array<{ containerID: string, ifname: string }>
}

type Json = Record<string, unknown>

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const invalid = (msg: string, details = ''): CniError => new CniError(ErrorCode.invalidConfig, msg, details)

/**
 * The version a config speaks, for error objects too: its `cniVersion` when it is a string,
 * else the latest. Never throws (used while reporting another error).
 */
export function versionOf (raw: unknown): string {
  return isObject(raw) && typeof raw.cniVersion === 'string' && raw.cniVersion !== '' ? raw.cniVersion : LATEST_VERSION
}

/** JSON.parse with the spec's decoding failure (code 6). */
export function decodeJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CniError(ErrorCode.decodingFailure, `error unmarshalling network config: ${(err as Error).message}`)
  }
}

/** Validate a decoded config; every mistake is a CniError with the spec's code. */
export function parseNetConf (raw: unknown): NetConf {
  if (!isObject(raw)) throw new CniError(ErrorCode.decodingFailure, 'network config is not a JSON object')
  const version = raw.cniVersion
  // Go's decoder reads a missing version as 0.1.0, which this plugin does not speak either.
  if (version !== undefined && typeof version !== 'string') {
    throw new CniError(ErrorCode.decodingFailure, 'cniVersion must be a string')
  }
  if (version === undefined || !isSupported(version)) {
    throw new CniError(ErrorCode.incompatibleVersion, 'incompatible CNI versions',
      `config is "${version ?? '0.1.0'}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`)
  }
  if (typeof raw.name !== 'string' || raw.name === '') throw invalid('missing network name')
  if (!CNI_NAME_RE.test(raw.name)) throw invalid('invalid characters found in network name', raw.name)
  if (typeof raw.type !== 'string' || raw.type === '') throw invalid('missing plugin type')
  if (raw.ipam !== undefined) {
    throw new CniError(ErrorCode.unsupportedField, `unsupported field "ipam": ${JSON.stringify(raw.ipam)}`,
      'the ovnet agent assigns addresses from the cluster IPAM; remove the ipam section')
  }
  if (typeof raw.network !== 'string' || raw.network === '') throw invalid('"network" (an ovnet network) is required')
  const socket = raw.socket
  if (socket !== undefined && (typeof socket !== 'string' || !socket.startsWith('/'))) {
    throw invalid('"socket" must be an absolute path')
  }
  const mtu = raw.mtu
  if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
    throw invalid(`"mtu" must be an integer in 68-65535, got ${JSON.stringify(mtu)}`)
  }
  if (raw.dns !== undefined && !isObject(raw.dns)) throw invalid('"dns" must be an object')
  const conf: NetConf = {
    cniVersion: version, name: raw.name, type: raw.type, network: raw.network, socket: socket ?? DEFAULT_SOCKET
  }
  if (mtu !== undefined) conf.mtu = mtu
  if (raw.dns !== undefined) conf.dns = raw.dns
  readRuntimeConfig(raw.runtimeConfig, conf)
  if (raw.prevResult !== undefined) {
    if (!isObject(raw.prevResult)) throw invalid('"prevResult" must be an object')
    conf.prevResult = raw.prevResult as unknown as CniResult
  }
  const valid = raw['cni.dev/valid-attachments']
  if (valid !== undefined) {
    const ok = (a: unknown): boolean => isObject(a) && typeof a.containerID === 'string' && typeof a.ifname === 'string'
    if (!Array.isArray(valid) || !valid.every(ok)) {
      throw invalid('"cni.dev/valid-attachments" must be a list of {containerID, ifname}')
    }
    conf.validAttachments = valid as Array<{ containerID: string, ifname: string }>
  }
  return conf
}

/** The capabilities ovnet honours: "ips" (one IPv4 address) and "mac". */
function readRuntimeConfig (rc: unknown, conf: NetConf): void {
  if (rc === undefined) return
  if (!isObject(rc)) throw invalid('"runtimeConfig" must be an object')
  if (rc.ips !== undefined) {
    if (!Array.isArray(rc.ips) || !rc.ips.every(x => typeof x === 'string')) {
      throw invalid('runtimeConfig.ips must be a list of addresses')
    }
    const v4 = (rc.ips).filter(x => !x.includes(':'))
    if (v4.length > 1) throw invalid('ovnet gives one IPv4 address per attachment', JSON.stringify(rc.ips))
    if (v4.length === 1) conf.ip = v4[0]!.split('/')[0]!
  }
  if (rc.mac !== undefined) {
    if (typeof rc.mac !== 'string') throw invalid('runtimeConfig.mac must be a string')
    conf.mac = rc.mac
  }
}
