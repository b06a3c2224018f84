/**
 * The encrypted data plane's replicated record, in NetworkDB's cluster-wide network:
 * `wireguard_peer_table`, key = the owner's node id (a host announces only itself; receivers drop
 * an entry whose key is not its owner): the host's WireGuard public key, listen port and mode.
 * The tunnel endpoint and the peer's allowed address are NOT in the record: they are the owner's
 * advertise address as membership knows it, so no host can claim another host's underlay address.
 */
import { decodeEnvelope, encodeEnvelope, rec, str, uint, WireError } from './codec.js'

export const WIREGUARD_PEER_TABLE = 'wireguard_peer_table'

export type WireguardMode = 'kernel' | 'userspace' | 'none'
const MODES: ReadonlySet<string> = new Set(['kernel', 'userspace', 'none'])

export interface WireguardPeerRecord {
  /** Curve25519 public key, base64 (44 characters), as `wg` prints it. */
  publicKey: string
  /** UDP port the host's WireGuard device listens on. */
  port: number
  /** How the host runs WireGuard; 'none': it cannot (no kernel module, no wireguard-go). */
  mode: WireguardMode
}

const TYPES: ReadonlySet<'wgpeer'> = new Set(['wgpeer'])
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$/

/** Whether `k` is a base64 Curve25519 key (32 bytes). */
export function validWireguardKey (k: string): boolean {
  return KEY_RE.test(k)
}

export function encodeWireguardPeer (r: WireguardPeerRecord): Uint8Array { return encodeEnvelope('wgpeer', r) }

export function decodeWireguardPeer (data: Uint8Array): WireguardPeerRecord {
  const o = rec(decodeEnvelope(data, TYPES).b, 'wgpeer')
  const publicKey = str(o, 'publicKey', 64)
  if (!validWireguardKey(publicKey)) throw new WireError('shape', 'bad field publicKey')
  const port = uint(o, 'port')
  if (port < 1 || port > 65535) throw new WireError('shape', 'bad field port')
  const mode = str(o, 'mode', 16)
  if (!MODES.has(mode)) throw new WireError('shape', 'bad field mode')
  return { publicKey, port, mode: mode as WireguardMode }
}
