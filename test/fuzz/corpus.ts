/** Valid frames of every wire format (proto/), the seeds the mutators start from. */
import {
  encodeEndpointRecord, encodeGossip, encodeIpamRecord, encodeNetworkRecord, encodePeerRecord, encodeRemovalRecord,
  encodeRequest, encodeResponse, encodeVniClaim, encodeWireguardPeer, type WireEntry
} from '../../proto/index.js'

export const IDS = ['12D3KooWJ7uQ3p4x7oxpvFBwWdKjGksZH2TNiSCsyhDkwnfXJ8Ru', 'peer-a', 'peer-b', 'peer-c']

function entry (i: number, owner: string, over: Partial<WireEntry> = {}): WireEntry {
  return { table: 't', key: `k${i}`, owner, ltime: 10 + i, deleted: false, value: new Uint8Array([i, 1, 2]), reapIn: 0, ...over }
}

/** NetworkDB messages between `from` and the node under test, about network `nid`. */
export function networkdbFrames (from: string, nid: string, self: string): Uint8Array[] {
  const entries = [entry(1, from), entry(2, from, { deleted: true, reapIn: 60_000 }), entry(3, from, { table: 'u' })]
  const foreign = [entry(4, 'peer-c'), entry(5, self, { ltime: 99 })]
  const node = { kind: 'alive' as const, node: from, name: `n-${from.slice(0, 6)}`, advertise: '192.0.2.9', addrs: [`mem://${from}`], inc: 5 }
  const state = { nodes: [node, { ...node, kind: 'suspect' as const, node: 'peer-c', inc: 2 }], networks: [{ node: from, nid, ltime: 3, join: true }], ltime: 3 }
  return [
    encodeGossip({ t: 'node', b: node }),
    encodeGossip({ t: 'node', b: { ...node, kind: 'left', inc: 6 } }),
    encodeGossip({ t: 'node', b: { ...node, kind: 'failed', node: 'peer-c' } }),
    encodeGossip({ t: 'node', b: { ...node, kind: 'suspect', node: self } }),
    encodeGossip({ t: 'net', b: { node: from, nid, ltime: 4, join: true } }),
    encodeGossip({ t: 'net', b: { node: from, nid, ltime: 5, join: false } }),
    encodeGossip({ t: 'tables', b: { nid, entries } }),
    encodeGossip({ t: 'tables', b: { nid, entries: foreign } }),
    encodeRequest({ t: 'pushpull', b: state }),
    encodeRequest({ t: 'sync', b: { nid, buckets: 2, hashes: [1, 2, 3, 4], count: 3, packed: true } }),
    encodeRequest({ t: 'sync', b: { nid, buckets: 1, hashes: [0, 0], count: 0 } }),
    encodeRequest({ t: 'push', b: { nid, entries } }),
    encodeRequest({ t: 'push', b: { nid, entries: [...entries, ...foreign], packed: true } }),
    encodeRequest({ t: 'pingreq', b: { target: 'peer-c', timeoutMs: 300 } }),
    encodeResponse({ t: 'pushpull', b: state }),
    encodeResponse({ t: 'entries', b: { nid, entries, want: [0, 1] } }),
    encodeResponse({ t: 'entries', b: { nid, entries: [...entries, ...foreign], packed: true, want: [1] } }),
    encodeResponse({ t: 'ack', b: { ok: true, detail: '' } }),
    encodeResponse({ t: 'ack', b: { ok: false, detail: 'not in network' } })
  ]
}

/** Table values: overlay, agent and IPAM records. */
export function recordFrames (): Uint8Array[] {
  const seg = { s: 0x0a000000n, e: 0x0a0000ffn, v: 3, o: 'peer-a' }
  return [
    encodePeerRecord({ endpointIP: '10.0.0.5/24', endpointMAC: '02:42:0a:00:00:05', tunnelEndpointIP: '192.0.2.11' }),
    encodePeerRecord({ endpointIP: 'fd00::5/64', endpointMAC: '02:42:0a:00:00:06', tunnelEndpointIP: '2001:db8::1' }),
    encodeVniClaim({ vni: 4097, nid: 'a'.repeat(64) }),
    encodeNetworkRecord({ id: 'a'.repeat(64), name: 'red', created: 1_700_000_000_000, subnet: '10.0.0.0/24', gateway: '10.0.0.1', ipRange: '', vni: 4097, internal: false, attachable: true, options: { mtu: '1400' }, labels: { team: 'x' } }),
    encodeEndpointRecord({ nid: 'a'.repeat(64), eid: 'b'.repeat(64), name: 'c1', ip: '10.0.0.2/24', mac: '02:42:0a:00:00:02', node: 'h1', nodeId: 'peer-a', vtep: '192.0.2.1' }),
    encodeEndpointRecord({ nid: 'a'.repeat(64), eid: 'd'.repeat(64), name: 'c2', ip: '10.0.0.3/24', mac: '02:42:0a:00:00:03', node: 'h1', nodeId: 'peer-a', vtep: '192.0.2.1', aliases: ['web', 'cache'] }),
    encodeRemovalRecord({ nid: 'a'.repeat(64), name: 'red', removedAt: 1_700_000_000_000, subnet: '10.0.0.0/24' }),
    encodeIpamRecord({ t: 'ring', b: { ring: 'r', genesis: 'g', family: 4, segs: [seg], used: 3, free: 250n } }),
    encodeIpamRecord({ t: 'pool', b: { instance: 'i', space: 'GlobalDefault', pool: '10.0.0.0/24', sub: undefined, network: 'n', epoch: 2, state: 'active', holders: ['peer-b'], gw: '10.0.0.1' } }),
    encodeIpamRecord({ t: 'req', b: { id: 'q', to: 'peer-b', kind: 'range', ring: 'r', s: 1n, e: 9n, pool: undefined, sub: undefined, network: undefined, instance: undefined, segs: [seg] } }),
    encodeIpamRecord({ t: 'ans', b: { id: 'q', code: 'granted', detail: '', instance: undefined, segs: [seg] } }),
    encodeIpamRecord({ t: 'gone', b: { node: 'peer-c', at: 5 } }),
    encodeWireguardPeer({ publicKey: 'TMXAKp1sslGq/EEwXKzr9k7x2W1lCySXK4UQvLIB2ko=', port: 51820, mode: 'userspace' })
  ]
}
