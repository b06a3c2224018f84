/**
 * Human output of the CLI: aligned tables (Docker's style: upper-case headers, columns three
 * spaces apart) built from the same objects `--json` prints unchanged.
 */
import type {
  EncryptionStatusView,
  AttachResponse, ControlEvent, IpamReclaimResponse, IpamStatusView, MemberView, NetworkSummary
} from './api-types.js'

/** Columns padded to their widest cell; the last column is not padded (no trailing blanks). */
export function table (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}

export function formatRtt (rtt: number | null): string {
  if (rtt === null) return 'unreachable'
  return rtt < 10 ? `${rtt.toFixed(3)} ms` : `${rtt.toFixed(1)} ms`
}

/** Docker shows 12 characters of an id; the full one is in `--json` and inspect. */
export function shortId (id: string): string {
  return id.slice(0, 12)
}

export function membersTable (members: readonly MemberView[]): string {
  // The WireGuard column only from agents that report it (encrypted networks).
  if (members.some(m => m.Encryption !== undefined)) {
    return table(['NAME', 'ID', 'ADDRESS', 'STATUS', 'RTT', 'WIREGUARD'],
      members.map(m => [m.Name, m.ID, m.Address, m.Status, formatRtt(m.RTT), m.Encryption ?? '-']))
  }
  return table(['NAME', 'ID', 'ADDRESS', 'STATUS', 'RTT'],
    members.map(m => [m.Name, m.ID, m.Address, m.Status, formatRtt(m.RTT)]))
}

export function encryptionText (e: EncryptionStatusView): string {
  const head = `mode ${e.Mode}, device ${e.Interface} (${e.Ready ? 'up' : 'not in use yet'}), ` +
    `port ${e.ListenPort}, encrypted VXLAN port ${e.VxlanPort}\npublic key ${e.PublicKey}\n`
  if (e.Peers.length === 0) return head
  const now = Date.now() / 1000
  return head + table(['PEER', 'ENDPOINT', 'PUBLIC KEY', 'HANDSHAKE', 'RX', 'TX'], e.Peers.map(p => [
    p.Name || '?',
    p.Endpoint,
    p.PublicKey,
    p.LatestHandshake === 0 ? 'never' : `${Math.max(0, Math.round(now - p.LatestHandshake))}s ago`,
    String(p.RxBytes),
    String(p.TxBytes)
  ]))
}

export function networksTable (networks: readonly NetworkSummary[]): string {
  return table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'],
    networks.map(n => [shortId(n.Id), n.Name, n.Driver, n.Scope, n.Subnets.join(',')]))
}

export function attachTable (a: AttachResponse): string {
  return table(['ENDPOINT ID', 'IPV4 ADDRESS', 'MAC ADDRESS'], [[a.EndpointID, a.IPv4Address, a.MacAddress]])
}

export function ipamTables (s: IpamStatusView): string {
  const pools = table(['SUBNET', 'NETWORK', 'IN USE', 'AVAILABLE'],
    s.Pools.map(p => [p.Subnet, p.Network === '' ? '-' : p.Network, String(p.IPsInUse), String(p.DynamicIPsAvailable)]))
  const ranges = s.Pools.flatMap(p => p.Ranges.map(r => [r.Range, p.Subnet, r.Owner, String(r.IPsInUse)]))
  if (ranges.length === 0) return pools
  return pools + '\n' + table(['RANGE', 'SUBNET', 'OWNER', 'IN USE'], ranges)
}

export function reclaimText (r: IpamReclaimResponse): string {
  if (r.Reclaimed.length === 0) return `nothing to reclaim from ${r.Node}\n`
  return `reclaimed from ${r.Node}: ${r.Reclaimed.join(', ')}\n`
}

/** `2024-05-01T10:00:00.000Z network create 3f2a… (name=red, driver=overlay)`, as `docker events`. */
export function eventLine (ev: ControlEvent): string {
  const attrs = Object.entries(ev.Actor.Attributes).map(([k, v]) => `${k}=${v}`).join(', ')
  return `${ev.Time} ${ev.Type} ${ev.Action} ${ev.Actor.ID}${attrs === '' ? '' : ` (${attrs})`}\n`
}
