import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Libp2p, Peer, PeerData, PeerId } from '@libp2p/interface'
import { REFRESH_MS, skipRedundantProtocolMerges } from '../../networkdb/peer-store-fastpath.js'

/** A peer store that counts what reaches it, and a node around it that emits its events. */
class FakeNode extends EventTarget {
  readonly calls: string[] = []
  readonly stored = new Map<string, Peer>()
  readonly peerStore = {
    merge: async (id: PeerId, data: PeerData): Promise<Peer> => {
      this.calls.push('merge')
      const prev = this.stored.get(id.toString())
      const protocols = [...new Set([...(prev?.protocols ?? []), ...(data.protocols ?? [])])]
      return this.put(id, protocols, prev)
    },
    patch: async (id: PeerId, data: PeerData): Promise<Peer> => {
      this.calls.push('patch')
      return this.put(id, data.protocols ?? [], this.stored.get(id.toString()))
    },
    save: async (id: PeerId, data: PeerData): Promise<Peer> => {
      this.calls.push('save')
      return this.put(id, data.protocols ?? [], this.stored.get(id.toString()))
    },
    delete: async (id: PeerId): Promise<void> => { this.calls.push('delete'); this.stored.delete(id.toString()) },
    consumePeerRecord: async (): Promise<boolean> => { this.calls.push('record'); return true }
  }

  private put (id: PeerId, protocols: string[], prev: Peer | undefined): Peer {
    const peer = { id, protocols, addresses: [], metadata: new Map(), tags: new Map() } satisfies Peer
    this.stored.set(id.toString(), peer)
    if (prev === undefined || prev.protocols.join() !== protocols.join()) {
      this.dispatchEvent(new CustomEvent('peer:update', { detail: { peer, previous: prev } }))
    }
    return peer
  }

  merges (): number { return this.calls.filter(c => c === 'merge').length }
}

describe('peer store fast path (protocol-only merges)', () => {
  let now = 1_000_000
  let fake: FakeNode
  let id: PeerId
  let stats: ReturnType<typeof skipRedundantProtocolMerges>

  beforeEach(async () => {
    fake = new FakeNode()
    id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    stats = skipRedundantProtocolMerges(fake as unknown as Libp2p, () => now)
  })

  it('answers a merge of protocols the peer already has from memory, and no other', async () => {
    await fake.peerStore.merge(id, { protocols: ['/a'] })
    const again = await fake.peerStore.merge(id, { protocols: ['/a'] })
    assert.deepEqual(again.protocols, ['/a'])
    assert.equal(fake.merges(), 1)
    await fake.peerStore.merge(id, { protocols: ['/a', '/b'] }) // a new protocol: to the store
    assert.equal(fake.merges(), 2)
    await fake.peerStore.merge(id, { protocols: ['/b'] })
    assert.equal(fake.merges(), 2)
    await fake.peerStore.merge(id, { protocols: ['/a'], metadata: { x: new Uint8Array([1]) } }) // more than protocols
    assert.equal(fake.merges(), 3)
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    await fake.peerStore.merge(other, { protocols: ['/a'] }) // another peer: nothing known of it
    assert.equal(fake.merges(), 4)
    assert.deepEqual(stats, { hits: 2, misses: 4 })
  })

  it('forgets a peer on any other write to it, and refreshes after REFRESH_MS', async () => {
    await fake.peerStore.merge(id, { protocols: ['/a'] })
    for (const write of [
      async () => await fake.peerStore.patch(id, { protocols: ['/b'] }),
      async () => await fake.peerStore.save(id, { protocols: ['/b'] }),
      async () => { await fake.peerStore.delete(id) },
      async () => await fake.peerStore.consumePeerRecord()
    ]) {
      await fake.peerStore.merge(id, { protocols: ['/a'] })
      const before = fake.merges()
      await write()
      await fake.peerStore.merge(id, { protocols: ['/a'] })
      assert.equal(fake.merges(), before + 1, `a merge after ${String(fake.calls.at(-2))} must reach the store`)
    }
    const n = fake.merges()
    now += REFRESH_MS - 1
    await fake.peerStore.merge(id, { protocols: ['/a'] })
    assert.equal(fake.merges(), n)
    now += 1
    await fake.peerStore.merge(id, { protocols: ['/a'] })
    assert.equal(fake.merges(), n + 1)
  })

  it('follows the store: a protocol removed by an update is merged again', async () => {
    await fake.peerStore.merge(id, { protocols: ['/a', '/b'] })
    // another writer (not through these methods) replaced the record; the store says so
    const peer = { id, protocols: ['/b'], addresses: [], metadata: new Map(), tags: new Map() } satisfies Peer
    fake.dispatchEvent(new CustomEvent('peer:update', { detail: { peer } }))
    await fake.peerStore.merge(id, { protocols: ['/b'] })
    assert.equal(fake.merges(), 1)
    await fake.peerStore.merge(id, { protocols: ['/a'] })
    assert.equal(fake.merges(), 2)
  })

  it('installs once per store', () => {
    assert.equal(skipRedundantProtocolMerges(fake as unknown as Libp2p), stats)
  })
})
