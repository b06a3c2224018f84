/**
 * The controller's replicated records, in NetworkDB's cluster-wide network:
 * - `network_table`, key = network id: a network's definition (a cluster object: created on any
 *   host, visible on every host; adopted by a live node when its writer fails).
 * - `endpoint_table`, key = `<nid>/<eid>`: one endpoint, owned by the host that attached it.
 * - `network_removal_table`, key = network id: the fact that a network was removed
 *   (agent/network-removals.ts).
 */
import { isIP } from 'node:net'
import { decodeEnvelope, encodeEnvelope, bool, rec, str, strArr, uint, optStr, WireError, isRecord } from './codec.js'
import { checkCidr, checkIp } from './overlay.js'

export const NETWORK_TABLE = 'network_table'
export const ENDPOINT_TABLE = 'endpoint_table'

export interface NetworkRecord {
  id: string
  name: string
  /** Unix ms. */
  created: number
  /** IPv4 CIDR of the network. */
  subnet: string
  /** Gateway IP (no prefix), "" when the network has none. */
  gateway: string
  /** Sub-range for dynamic addresses (CIDR), "" for the whole subnet. */
  ipRange: string
  vni: number
  internal: boolean
  attachable: boolean
  options: Record<string, string>
  labels: Record<string, string>
}

export interface EndpointRecord {
  nid: string
  eid: string
  name: string
  /** CIDR, e.g. "10.0.0.5/24". */
  ip: string
  mac: string
  /** Name and id of the hosting node; its VTEP. */
  node: string
  nodeId: string
  vtep: string
  /**
   * Extra DNS names of the endpoint (`attach --alias`); several endpoints may share one. Omitted
   * from the wire when empty; a record of a writer that predates aliases decodes with none.
   */
  aliases?: string[]
}

/** Aliases per endpoint and the length of each (a DNS name: 253 characters). */
export const MAX_ALIASES = 16
export const MAX_ALIAS_LENGTH = 253

/**
 * Caps of the record decoders, exported so that the control API refuses what other hosts would
 * drop: a name, option or label accepted here must decode everywhere.
 */
export const MAX_RECORD_NAME = 256
export const MAX_MAP_KEY = 256
export const MAX_MAP_VALUE = 4096
/** Options and labels per network (each map). */
export const MAX_MAP_ENTRIES = 256
/** UTF-8 bytes of every key and value of options and labels together: the record fits a table value (64 KiB). */
export const MAX_MAPS_BYTES = 32 * 1024

const TYPES_N: ReadonlySet<'network'> = new Set(['network'])
const TYPES_E: ReadonlySet<'endpoint'> = new Set(['endpoint'])
const TYPES_R: ReadonlySet<'removal'> = new Set(['removal'])

/**
 * Ids of networks and endpoints name namespaces, devices and keys on every host: letters, digits,
 * `_` and `-` only (no whitespace, control character, `/` or `.`), whatever a writer sent.
 */
const ID_RE = /^[A-Za-z0-9_-]{1,128}$/
const MAC_ANY_CASE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/

function id (o: Record<string, unknown>, k: string): string {
  const v = str(o, k, 128)
  if (!ID_RE.test(v)) throw new WireError('shape', `bad field ${k}: not an id`)
  return v
}

/** Addresses reach iproute2 and iptables batch lines on every host: checked here, per record. */
function subnet4 (o: Record<string, unknown>, k: string): string {
  const v = checkCidr(str(o, k, 64))
  if (isIP(v.slice(0, v.indexOf('/'))) !== 4) throw new WireError('shape', `bad field ${k}: not an IPv4 CIDR`)
  return v
}

function orEmpty (v: string | undefined, check: (s: string) => string): string {
  return v === undefined || v === '' ? '' : check(v)
}

function stringMap (o: Record<string, unknown>, k: string): Record<string, string> {
  const v = o[k]
  if (!isRecord(v)) throw new WireError('shape', `bad field ${k}`)
  const out: Record<string, string> = {}
  const all = Object.entries(v)
  if (all.length > MAX_MAP_ENTRIES) throw new WireError('shape', `bad field ${k}: more than ${MAX_MAP_ENTRIES} entries`)
  for (const [mk, mv] of all) {
    if (typeof mv !== 'string' || mk.length > MAX_MAP_KEY ||
        mv.length > MAX_MAP_VALUE) throw new WireError('shape', `bad field ${k}.${mk.slice(0, 64)}`)
    out[mk] = mv
  }
  return out
}

export function encodeNetworkRecord (r: NetworkRecord): Uint8Array { return encodeEnvelope('network', r) }

export function decodeNetworkRecord (data: Uint8Array): NetworkRecord {
  const o = rec(decodeEnvelope(data, TYPES_N).b, 'network')
  return {
    id: id(o, 'id'),
    name: str(o, 'name', MAX_RECORD_NAME),
    created: uint(o, 'created'),
    subnet: subnet4(o, 'subnet'),
    gateway: orEmpty(optStr(o, 'gateway', 64), checkIp),
    ipRange: orEmpty(optStr(o, 'ipRange', 64), checkCidr),
    vni: uint(o, 'vni'),
    // Absent in a record of a writer that predates the flag (or omits it): not internal.
    internal: o.internal === undefined ? false : bool(o, 'internal'),
    attachable: bool(o, 'attachable'),
    options: stringMap(o, 'options'),
    labels: stringMap(o, 'labels')
  }
}

export function encodeEndpointRecord (r: EndpointRecord): Uint8Array {
  const { aliases, ...rest } = r
  // No field at all without aliases: the record stays byte-identical to the previous wire.
  return encodeEnvelope('endpoint', aliases === undefined || aliases.length === 0 ? rest : r)
}

export function decodeEndpointRecord (data: Uint8Array): EndpointRecord {
  const o = rec(decodeEnvelope(data, TYPES_E).b, 'endpoint')
  return {
    nid: id(o, 'nid'),
    eid: id(o, 'eid'),
    name: str(o, 'name', MAX_RECORD_NAME),
    ip: checkCidr(str(o, 'ip', 64)),
    mac: mac(str(o, 'mac', 32)),
    node: str(o, 'node', 256),
    nodeId: str(o, 'nodeId', 256),
    vtep: checkIp(str(o, 'vtep', 64)),
    // Absent in a record of a writer that predates aliases (or has none); an empty list is none.
    ...aliasesOf(o)
  }
}

function aliasesOf (o: Record<string, unknown>): { aliases?: string[] } {
  if (o.aliases === undefined) return {}
  const a = strArr(o, 'aliases', MAX_ALIASES, MAX_ALIAS_LENGTH)
  return a.length === 0 ? {} : { aliases: a }
}

function legacyRemoval (data: Uint8Array): Record<string, unknown> {
  if (data.length > 4096) throw new WireError('oversize', 'removal record (JSON form): too large')
  let o: unknown
  try { o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)) } catch {
    throw new WireError('undecodable', 'removal record (JSON form): not JSON')
  }
  const r = rec(o, 'removal')
  if (r.v !== 1) throw new WireError('version', 'removal record (JSON form): unknown version')
  return r
}

function mac (v: string): string {
  if (!MAC_ANY_CASE.test(v)) throw new WireError('shape', 'bad field mac')
  return v
}

export const endpointKey = (nid: string, eid: string): string => `${nid}/${eid}`

export const REMOVAL_TABLE = 'network_removal_table'

export interface RemovalRecord {
  nid: string
  name: string
  /** Clock ms of the removal (reaping). */
  removedAt: number
  /** The removed network's subnet: not handed to a new network while the record lives. */
  subnet?: string
}

export function encodeRemovalRecord (r: RemovalRecord): Uint8Array {
  const b = { nid: r.nid, name: r.name, removedAt: r.removedAt }
  return encodeEnvelope('removal', r.subnet === undefined ? b : { ...b, subnet: r.subnet })
}

/**
 * Also reads the JSON text form (`{"v":1,...}`) that agents before the msgpack record wrote: such
 * records live on in the stores and in the tables of a cluster being upgraded host by host. A
 * msgpack envelope is a map (0x80-0x8f, 0xde, 0xdf), so a leading '{' (0x7b) is never one.
 */
export function decodeRemovalRecord (data: Uint8Array): RemovalRecord {
  const o = data[0] === 0x7b ? legacyRemoval(data) : rec(decodeEnvelope(data, TYPES_R).b, 'removal')
  const r = { nid: id(o, 'nid'), name: str(o, 'name', MAX_RECORD_NAME), removedAt: uint(o, 'removedAt') }
  const subnet = optStr(o, 'subnet', 64)
  return subnet === undefined ? r : { ...r, subnet }
}
