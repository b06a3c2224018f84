/**
 * A node with a wrong cluster key learns nothing and injects nothing (issue 16, "Keys"), on real
 * sockets: two members on 127.0.0.1 over libp2p (pnet + noise), an intruder with another key that
 * tries to join, to request, to push a forged cluster state and raw frames over plain TCP. The
 * members' views (members, tables, digests, clocks) are the same before and after.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import { NetworkDBNode } from '../../networkdb/index.js'
import { Libp2pTransport } from '../../networkdb/adapters.js'
import { silentLogger } from '../../core/index.js'
import { encodeGossip, encodeRequest } from '../../proto/index.js'

function newKey (): Uint8Array {
  const k = new Uint8Array(95)
  generateKey(k)
  return k
}

async function until (what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!pred()) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('a node with the wrong cluster key (real sockets)', function () {
  this.timeout(60_000)
  const nodes: NetworkDBNode[] = []
  const transports: Libp2pTransport[] = []

  async function node (name: string, key: Uint8Array): Promise<NetworkDBNode> {
    const transport = new Libp2pTransport({ privateKey: await generateKeyPair('Ed25519'), clusterKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger })
    const db = new NetworkDBNode({ transport, name, advertiseAddr: '127.0.0.1' })
    await db.start()
    nodes.push(db)
    transports.push(transport)
    return db
  }

  after(async () => { for (const n of nodes) await n.close().catch(() => {}) })

  const view = (db: NetworkDBNode): unknown => {
    const d = db.diagnostics()
    return { members: d.members.map(m => [m.id, m.status]).sort(), networks: d.networks.map(n => [n.nid, n.digest, n.peers.sort()]), clocks: d.clocks, entries: db.walkTable('t', 'n').map(e => [e.key, e.owner]).sort() }
  }

  it('cannot join, request, push or publish: the members\' state does not change, and it learns nothing', async () => {
    const key = newKey()
    const a = await node('a', key)
    const b = await node('b', key)
    const seeds = a.diagnostics().node.addrs
    await b.join(seeds, 10_000)
    await a.joinNetwork('n')
    await b.joinNetwork('n')
    await a.createEntry('t', 'n', 'ka', new Uint8Array([1]))
    await b.createEntry('t', 'n', 'kb', new Uint8Array([2]))
    await until('both hold both entries', () => a.walkTable('t', 'n').length === 2 && b.walkTable('t', 'n').length === 2)
    const before = [view(a), view(b)]

    const evil = await node('evil', newKey())
    await evil.joinNetwork('n')
    await evil.createEntry('t', 'n', 'forged', new Uint8Array([6, 6, 6]))
    await assert.rejects(evil.join(seeds, 3000), /could not join|unreachable|timeout/i)
    const et = transports[2]!
    // straight at the transport: a forged cluster state naming itself alive, and gossip
    const forged = encodeRequest({ t: 'pushpull', b: { nodes: [{ kind: 'alive', node: et.localId, name: 'evil', advertise: '127.0.0.1', addrs: et.addresses(), inc: 1e9 }], networks: [{ node: et.localId, nid: 'n', ltime: 1e6, join: true }], ltime: 1e6 } })
    await assert.rejects(et.request(a.nodeId, forged, 2000))
    await assert.rejects(et.connect(b.nodeId, b.diagnostics().node.addrs, 2000))
    await et.publish('ovnet/1/net/n', encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'ka', owner: a.nodeId, ltime: 1e9, deleted: true, value: new Uint8Array(0), reapIn: 1000 }] } })).catch(() => {})

    // below libp2p: the same frames as raw bytes on a plain TCP connection to a's listener
    const port = Number(/\/tcp\/(\d+)/.exec(seeds[0]!)![1])
    await new Promise<void>(resolve => {
      const sock = connect({ host: '127.0.0.1', port }, () => {
        sock.write(Buffer.from('/multistream/1.0.0\n'))
        sock.write(forged)
        sock.write(Buffer.alloc(64 * 1024, 0xff))
      })
      sock.on('error', () => { resolve() })
      sock.on('close', () => { resolve() })
      setTimeout(() => { sock.destroy(); resolve() }, 3000)
    })

    await new Promise(resolve => setTimeout(resolve, 1500)) // time for anything that got through to land
    assert.deepEqual([view(a), view(b)], before, 'the members\' views are unchanged')
    assert.ok(!a.members().some(m => m.id === et.localId) && !b.members().some(m => m.id === et.localId))
    assert.deepEqual(a.stats().rejected + b.stats().rejected, 0, 'nothing even reached the decoders')
    // and it learnt nothing
    assert.deepEqual(evil.members().map(m => m.id), [evil.nodeId])
    assert.deepEqual(evil.walkTable('t', 'n').map(e => e.key), ['forged'])
    assert.deepEqual(et.connectedPeers(), [])
    // the members still work with each other
    await a.createEntry('t', 'n', 'after', new Uint8Array([3]))
    await until('b gets a later write', () => b.getEntry('t', 'n', 'after') !== undefined)
  })
})
