import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p } from '@libp2p/interface'
import { Libp2pTransport } from '../../networkdb/adapters.js'
import { silentLogger } from '../../core/index.js'
import { newClusterKey, waitFor } from './helpers.js'

/**
 * Members announce a new connection's peer with their own protocols instead of running identify
 * (networkdb/cluster-identify.ts): gossip must flow both ways at once, identify must not have
 * run, and a member that still identifies the standard way (an older version) must work with
 * one that does not, in both directions.
 */
describe('cluster identify (real sockets)', function () {
  this.timeout(20_000)
  const started: Libp2pTransport[] = []
  afterEach(async () => { await Promise.allSettled(started.splice(0).map(async t => { await t.stop() })) })

  interface Member { t: Libp2pTransport, got: string[] }

  async function member (key: Uint8Array, identifyOnConnect = false): Promise<Member> {
    const m: Member = {
      t: new Libp2pTransport({
        privateKey: await generateKeyPair('Ed25519'), clusterKey: key, listen: ['127.0.0.1:0'],
        logger: silentLogger, identifyOnConnect
      }),
      got: []
    }
    started.push(m.t)
    await m.t.start({
      onMessage: (_topic, from, data) => { m.got.push(`${from}:${new TextDecoder().decode(data)}`) },
      onRequest: async (_from, data) => [data],
      onPeerConnected: () => {},
      onPeerDisconnected: () => {}
    })
    m.t.subscribe('net')
    return m
  }

  /** What the peer store holds of `peer` that only identify writes (its agent version). */
  async function identifiedAgent (m: Member, peer: string): Promise<string | undefined> {
    const node = (m.t as unknown as { node: Libp2p }).node
    const p = await node.peerStore.get(peerIdFromString(peer)).catch(() => undefined)
    const v = p?.metadata.get('AgentVersion')
    return v === undefined ? undefined : new TextDecoder().decode(v)
  }

  async function gossipBothWays (a: Member, b: Member): Promise<void> {
    await b.t.dial(a.t.addresses()[0]!, 2000)
    await waitFor('both see the other subscribed', () =>
      a.t.topicPeers('net').includes(b.t.localId) && b.t.topicPeers('net').includes(a.t.localId))
    await a.t.publish('net', new TextEncoder().encode('from a'))
    await b.t.publish('net', new TextEncoder().encode('from b'))
    await waitFor('both messages delivered', () =>
      b.got.includes(`${a.t.localId}:from a`) && a.got.includes(`${b.t.localId}:from b`))
  }

  it('two members exchange gossip both ways without running identify', async () => {
    const key = newClusterKey()
    const a = await member(key)
    const b = await member(key)
    await gossipBothWays(a, b)
    // a request stream works too (the RR protocol is among the announced ones)
    const answer = await b.t.request(a.t.localId, new TextEncoder().encode('ping'), 2000)
    assert.equal(new TextDecoder().decode(answer[0]), 'ping')
    assert.equal(await identifiedAgent(a, b.t.localId), undefined, 'a ran identify on b')
    assert.equal(await identifiedAgent(b, a.t.localId), undefined, 'b ran identify on a')
  })

  it('a member that still runs identify works with one that does not, dialling and dialled', async () => {
    const key = newClusterKey()
    const old1 = await member(key, true)
    const cur1 = await member(key)
    await gossipBothWays(old1, cur1) // the current one dials the old one
    const old2 = await member(key, true)
    const cur2 = await member(key)
    await gossipBothWays(cur2, old2) // the old one dials the current one
    // the old ones asked, and were answered
    assert.ok((await identifiedAgent(old1, cur1.t.localId)) !== undefined)
    assert.ok((await identifiedAgent(old2, cur2.t.localId)) !== undefined)
  })
})
