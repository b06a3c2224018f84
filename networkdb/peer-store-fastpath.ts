/**
 * libp2p 3 records the protocol of every stream it opens or accepts in its peer store
 * (`peerStore.merge(peer, { protocols: [p] })` in connection.js), and the store writes the peer
 * on every call, changed or not: a datastore get, a protobuf decode, the merge, an encode, a put,
 * and every address turned back into a Multiaddr object. NetworkDB opens a stream per request
 * (each bulk sync, push and hint), so a joining agent did this some 200 times for 19 members: the
 * peer store was ~12 % of a joiner's CPU before it answered (docs/BENCHMARKS.md, session 8).
 *
 * The fast path answers such a merge from memory when every protocol it names is already
 * recorded for that peer: the store would write back what it holds (and its `peer:update` event
 * would not fire, nothing having changed). What is known comes from the store's own answers to
 * merges and from its `peer:update` events; any other write to a peer (save, patch, delete,
 * a peer record) forgets that peer, so the next merge goes to the store again. A peer's entry
 * also goes to the store again after REFRESH_MS, so the record's `updated` time (the store
 * expires peers not updated for 6 h) still moves while streams are opened.
 */
import type { Libp2p, PeerId, PeerStore, Peer, PeerData } from '@libp2p/interface'

/** How long a merge may be answered from memory before it goes to the store again. */
export const REFRESH_MS = 10 * 60_000

const INSTALLED = Symbol.for('ovnet.peer-store.fast-path')

interface Known { protocols: Set<string>, peer: Peer, at: number }

export interface FastPathStats { hits: number, misses: number }

/** Install the fast path on a node's peer store (once); returns its hit counters. */
export function skipRedundantProtocolMerges (node: Libp2p, now: () => number = Date.now): FastPathStats {
  const store = node.peerStore as PeerStore & { [INSTALLED]?: FastPathStats }
  const installed = store[INSTALLED]
  if (installed !== undefined) return installed
  const stats: FastPathStats = { hits: 0, misses: 0 }
  const known = new Map<string, Known>()
  const remember = (peer: Peer): void => {
    known.set(peer.id.toString(), { protocols: new Set(peer.protocols), peer, at: now() })
  }
  const forget = (id: PeerId): void => { known.delete(id.toString()) }

  const merge = store.merge.bind(store)
  store.merge = async (id, data, options) => {
    const k = known.get(id.toString())
    if (k !== undefined && protocolsOnly(data) && now() - k.at < REFRESH_MS &&
      data.protocols.every(p => k.protocols.has(p))) {
      stats.hits++
      return k.peer
    }
    stats.misses++
    forget(id)
    const peer = await merge(id, data, options)
    remember(peer)
    return peer
  }
  for (const name of ['save', 'patch', 'delete', 'consumePeerRecord'] as const) {
    const original = (store[name] as (...args: unknown[]) => Promise<unknown>).bind(store)
    Object.assign(store, {
      [name]: async (...args: unknown[]) => {
        const id = args[0]
        try {
          return await original(...args)
        } finally {
          // consumePeerRecord's first argument is the record: forget everything then (rare)
          if (isPeerId(id)) forget(id); else known.clear()
        }
      }
    })
  }
  node.addEventListener('peer:update', evt => {
    const peer = evt.detail.peer
    if (known.has(peer.id.toString())) remember(peer)
  })
  store[INSTALLED] = stats
  return stats
}

function protocolsOnly (data: PeerData): data is PeerData & { protocols: string[] } {
  if (data.protocols === undefined) return false
  for (const key of Object.keys(data)) if (key !== 'protocols') return false
  return true
}

function isPeerId (v: unknown): v is PeerId {
  return typeof v === 'object' && v !== null && 'toMultihash' in v && typeof v.toString === 'function'
}
