/**
 * A pool whose free addresses all belong to one busy owner: its answers to space requests come
 * after the requesters' timeout (bench:cluster on a saturated machine). The requesters must not be
 * told the pool is full; they are told to retry, and the space granted late serves the retry.
 */
import assert from 'node:assert/strict'
import type { RequestRecord } from '../../proto/index.js'
import { ErrIpamUnavailable, ErrNoAvailableIPs, GlobalDefault, NetworkOption } from '../../ipam/index.js'
import { ipamCluster, type IpamCluster } from './helpers.js'

interface Internals {
  responder: { onRequest: (writer: string, req: RequestRecord) => void }
  global: { answer: (to: string, id: string, a: { code: 'none', detail: string }) => Promise<void> }
}

describe('ipam: a busy owner answers space requests after the timeout', function () {
  let k: IpamCluster | undefined
  afterEach(async () => { await k?.close(); k = undefined })

  it('the requesters get "no answer … retry", never "no available addresses"; the retry succeeds', async () => {
    k = await ipamCluster(4)
    const cl = k
    const opts = { addressSpace: GlobalDefault, v6: false, pool: '10.96.0.0/16', options: { [NetworkOption]: 'bench' } }
    const p = await cl.run(async () => await cl.ipam(0).requestPool(opts))
    for (const i of [1, 2, 3]) await cl.run(async () => await cl.ipam(i).requestPool(opts))
    await cl.c.advance(2000)
    // The owner now takes 8 s (requestTimeoutMs is 5 s) before it looks at a space request.
    const r = (cl.ipam(0) as unknown as Internals).responder
    const onRequest = r.onRequest.bind(r)
    r.onRequest = (writer, req) => {
      if (req.kind === 'space') cl.c.clock.setTimeout(() => { onRequest(writer, req) }, 8000)
      else onRequest(writer, req)
    }
    const errors = await Promise.all([1, 2, 3].map(async i => await cl.run(async () => {
      try {
        await cl.ipam(i).requestAddress(p.poolId, undefined, {})
        return undefined
      } catch (err) { return err as Error }
    })))
    for (const err of errors) {
      assert.ok(!(err instanceof ErrNoAvailableIPs), `a /16 with 4 addresses used said: ${String(err)}`)
      assert.ok(err instanceof ErrIpamUnavailable && /no answer from node-00.*retry/.test(err.message), String(err))
    }
    // The late grants reach the requesters; a retry is served from them, and nothing is handed out twice.
    await cl.c.advance(10_000)
    r.onRequest = onRequest
    const got = await Promise.all([0, 1, 2, 3, 1, 2, 3].map(async i =>
      (await cl.run(async () => await cl.ipam(i).requestAddress(p.poolId, undefined, {}))).address))
    assert.equal(new Set(got).size, got.length)
    for (const a of got) assert.match(a, /^10\.96\.\d+\.\d+\/16$/)
  })

  it('a donor whose record is stale says "none": with donors left unasked the pool is not called full', async () => {
    k = await ipamCluster(4, { config: { maxDonors: 1 } })
    const cl = k
    const opts = { addressSpace: GlobalDefault, v6: false, pool: '10.97.0.0/16', options: { [NetworkOption]: 'stale' } }
    const p = await cl.run(async () => await cl.ipam(0).requestPool(opts))
    for (const i of [1, 2, 3]) await cl.run(async () => await cl.ipam(i).requestPool(opts))
    // hosts 1 and 2 get space from the owner; every record of the ring reaches host 3
    for (const i of [1, 2]) await cl.run(async () => await cl.ipam(i).requestAddress(p.poolId, undefined, {}))
    await cl.c.advance(3000)
    // Every donor now answers "no free space", as one would whose record is out of date.
    const restore: Array<() => void> = []
    for (const i of [0, 1, 2]) {
      const x = cl.ipam(i) as unknown as Internals
      const onRequest = x.responder.onRequest.bind(x.responder)
      x.responder.onRequest = (writer, req) => {
        if (req.kind === 'space' && req.to === cl.c.ids[i]) void x.global.answer(writer, req.id, { code: 'none', detail: 'stale' })
        else onRequest(writer, req)
      }
      restore.push(() => { x.responder.onRequest = onRequest })
    }
    const err = await cl.run(async () => await cl.ipam(3).requestAddress(p.poolId, undefined, {}).then(() => undefined, (e: Error) => e))
    assert.ok(!(err instanceof ErrNoAvailableIPs), String(err))
    assert.ok(err instanceof ErrIpamUnavailable && /1 donors had no free space, 2 more were not asked.*retry/.test(err.message), String(err))
    for (const f of restore) f()
    const got = await cl.run(async () => await cl.ipam(3).requestAddress(p.poolId, undefined, {}))
    assert.match(got.address, /^10\.97\./)
  })
})
