/**
 * Overlay driver wire formats, carried as NetworkDB table values:
 * - `overlay_peer_table` (per network): key = endpoint id, value = PeerRecord — where a remote
 *   endpoint lives (its IP in CIDR form, its MAC, the VTEP of its host). Same fields as Docker's.
 * - `overlay_vni_table` (cluster-wide network): key = "<vni>/<nid>", value = VniClaim — one
 *   node's claim of a VXLAN id for a network (see overlay/vni.ts for the conflict rule).
 * Values are versioned envelopes; decoding validates every field and throws only WireError.
 */
import { isIP } from 'node:net'
import { decodeEnvelope, encodeEnvelope, rec, str, uint, WireError } from './codec.js'

export const PEER_TABLE = 'overlay_peer_table'
export const VNI_TABLE = 'overlay_vni_table'

/** Smallest and largest VXLAN network identifiers (24 bits; 0 is reserved). */
export const VNI_MIN = 1
export const VNI_MAX = 16_777_215

export interface PeerRecord {
  /** The endpoint's address with its prefix length, e.g. "10.0.0.5/24". */
  endpointIP: string
  /** Lower-case colon form, e.g. "02:42:0a:00:00:05". */
  endpointMAC: string
  /** Underlay address of the endpoint's host (its VTEP), e.g. "192.0.2.11". */
  tunnelEndpointIP: string
}

export interface VniClaim {
  vni: number
  nid: string
}

const PEER_TYPES: ReadonlySet<'peer'> = new Set(['peer'])
const CLAIM_TYPES: ReadonlySet<'vniclaim'> = new Set(['vniclaim'])
const MAX_NID = 256

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

function bad (what: string, value: unknown): never {
  throw new WireError('shape', `bad ${what} ${JSON.stringify(value)}`)
}

/** A unicast MAC in canonical lower-case colon form, or WireError. */
export function normalizeMac (mac: string): string {
  const m = mac.toLowerCase()
  if (!MAC_RE.test(m)) bad('MAC address', mac)
  // Bit 0 of the first octet marks group (multicast/broadcast) addresses: never an endpoint.
  if ((parseInt(m.slice(0, 2), 16) & 1) === 1) bad('unicast MAC address', mac)
  return m
}

/** Validate "IP/prefix" and return it unchanged; WireError if it is not one. */
export function checkCidr (cidr: string): string {
  const slash = cidr.indexOf('/')
  if (slash < 0) bad('CIDR address', cidr)
  const ip = cidr.slice(0, slash)
  const lenText = cidr.slice(slash + 1)
  const family = isIP(ip)
  if (family === 0 || !/^\d{1,3}$/.test(lenText)) bad('CIDR address', cidr)
  const len = Number(lenText)
  if (len > (family === 4 ? 32 : 128)) bad('CIDR prefix length', cidr)
  return cidr
}

/** Validate a bare IP address (v4 or v6). */
export function checkIp (ip: string): string {
  if (isIP(ip) === 0) bad('IP address', ip)
  return ip
}

function peerBody (r: PeerRecord): PeerRecord {
  return {
    endpointIP: checkCidr(r.endpointIP),
    endpointMAC: normalizeMac(r.endpointMAC),
    tunnelEndpointIP: checkIp(r.tunnelEndpointIP)
  }
}

export function encodePeerRecord (r: PeerRecord): Uint8Array {
  return encodeEnvelope('peer', peerBody(r))
}

export function decodePeerRecord (bytes: Uint8Array): PeerRecord {
  const env = decodeEnvelope(bytes, PEER_TYPES)
  const o = rec(env.b, 'peer record')
  return peerBody({
    endpointIP: str(o, 'endpointIP', 64),
    endpointMAC: str(o, 'endpointMAC', 32),
    tunnelEndpointIP: str(o, 'tunnelEndpointIP', 64)
  })
}

function claimBody (c: VniClaim): VniClaim {
  if (!Number.isSafeInteger(c.vni) || c.vni < VNI_MIN || c.vni > VNI_MAX) bad('VNI', c.vni)
  if (c.nid.length === 0 || c.nid.length > MAX_NID) bad('network id', c.nid)
  return { vni: c.vni, nid: c.nid }
}

export function encodeVniClaim (c: VniClaim): Uint8Array {
  return encodeEnvelope('vniclaim', claimBody(c))
}

export function decodeVniClaim (bytes: Uint8Array): VniClaim {
  const env = decodeEnvelope(bytes, CLAIM_TYPES)
  const o = rec(env.b, 'vni claim')
  return claimBody({ vni: uint(o, 'vni'), nid: str(o, 'nid', MAX_NID) })
}

/** Table key of a claim: VNI first so a reader can group claims of one VNI. */
export function vniClaimKey (c: VniClaim): string {
  return `${c.vni}/${c.nid}`
}
