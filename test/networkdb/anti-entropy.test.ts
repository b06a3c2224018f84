import assert from 'node:assert/strict'
import { answerSync, syncWith, type SyncDeps } from '../../networkdb/anti-entropy.js'
import { SystemClock } from '../../core/index.js'
import { Tables } from '../../networkdb/tables.js'
import type { Transport } from '../../networkdb/transport.js'
import {
  decodeRequest, decodeResponse, encodeRequest, encodeResponse, type RequestMessage, type WireEntry
} from '../../proto/index.js'

/**
 * Two nodes' tables joined by a fake transport that answers requests with the other side's
 * answerSync/merge, recording every request and response it carried. `oldPeer` makes the answering
 * side behave like a node that predates the packed form: it drops the flag it does not know.
 */
function pair (oldPeer = false): { a: SyncDeps, b: SyncDeps, sent: RequestMessage[], answers: Array<{ packed: boolean, count: number }> } {
  const clock = new SystemClock()
  const sent: RequestMessage[] = []
  const answers: Array<{ packed: boolean, count: number }> = []
  const deps = (tables: Tables, self: string): SyncDeps => ({
    tables,
    self,
    joinedAt: () => undefined,
    noteJoin: () => {},
    isMember: () => true,
    refuse: () => {},
    clock,
    requestTimeoutMs: 1000,
    transport: undefined as unknown as Transport,
    mergeRemote: (nid, _from, entries) => {
      for (const e of entries) tables.merge(nid, e.table, e.key, { owner: e.owner, ltime: e.ltime, value: e.value, deleted: e.deleted, reapAt: 0, hidden: false }, clock.now(), true)
    }
  })
  const a = deps(new Tables(), 'a')
  const b = deps(new Tables(), 'b')
  a.transport = {
    request: async (_peer: string, data: Uint8Array, _timeoutMs: number, onFrame?: (frame: Uint8Array) => void) => {
      const req = decodeRequest(data)
      sent.push(req)
      if (req.t === 'sync') {
        if (oldPeer) delete req.b.packed
        const frames = [...answerSync(b, 'a', req.b)]
        for (const f of frames) {
          const res = decodeResponse(f)
          if (res.t === 'entries') answers.push({ packed: res.b.packed === true, count: res.b.entries.length })
        }
        if (onFrame === undefined) return frames
        for (const f of frames) onFrame(f)
        return []
      }
      if (req.t === 'push') {
        if (oldPeer && req.b.packed === true) throw new Error('an old peer cannot read a packed push')
        b.mergeRemote(req.b.nid, 'a', req.b.entries)
        return [encodeResponse({ t: 'ack', b: { ok: true, detail: '' } })]
      }
      throw new Error(`unexpected ${req.t}`)
    }
  } as unknown as Transport
  a.tables.addNetwork('n')
  b.tables.addNetwork('n')
  return { a, b, sent, answers }
}

const entry = (owner: string, key: string, ltime: number): WireEntry => ({ table: 't', key, owner, ltime, deleted: false, value: new TextEncoder().encode(`${owner}/${key}`), reapIn: 0 })

function fill (d: SyncDeps, owner: string, keys: string[], ltime = 1): void {
  d.mergeRemote('n', owner, keys.map(k => entry(owner, k, ltime)))
}

const keys = (d: SyncDeps): string[] => d.tables.walk('t', 'n').map(v => `${v.owner}/${v.key}`).sort()

describe('anti-entropy (bulk sync)', function () {
  it('a late joiner gets the whole table in the packed form, and pushes nothing back', async () => {
    const { a, b, sent, answers } = pair()
    fill(b, 'b', Array.from({ length: 500 }, (_, i) => `k${i}`))
    const r = await syncWith(a, 'b', 'n')
    assert.equal(r.received, 500)
    assert.equal(r.pushed, 0)
    assert.deepEqual(keys(a), keys(b))
    assert.equal(sent.length, 1)
    assert.ok(sent[0]!.t === 'sync' && sent[0]!.b.packed === true)
    assert.ok(answers.length > 0 && answers.every(x => x.packed))
  })

  it('both sides end equal after a sync of differing tables, the push in the packed form', async () => {
    const { a, b, sent } = pair()
    fill(a, 'a', ['x', 'y', 'shared'])
    fill(b, 'b', ['z', 'w'])
    fill(b, 'a', ['shared'], 5) // b holds a newer version of a's entry
    const r = await syncWith(a, 'b', 'n')
    assert.ok(r.pushed > 0)
    assert.deepEqual(keys(a), keys(b))
    assert.equal(a.tables.get('t', 'n', 'shared')!.ltime, 5)
    const push = sent.find(m => m.t === 'push')
    assert.ok(push?.t === 'push' && push.b.packed === true)
  })

  it('with a peer that predates the packed form: list-form answers and pushes, same result', async () => {
    const { a, b, sent, answers } = pair(true)
    fill(a, 'a', ['x', 'y'])
    fill(b, 'b', ['z'])
    const r = await syncWith(a, 'b', 'n')
    assert.equal(r.received, 1)
    assert.equal(r.pushed, 2)
    assert.deepEqual(keys(a), keys(b))
    assert.ok(answers.length > 0 && answers.every(x => !x.packed))
    const push = sent.find(m => m.t === 'push')
    assert.ok(push?.t === 'push' && push.b.packed === undefined)
  })

  it('a requester that predates the packed form gets list-form answers', () => {
    const { b } = pair()
    fill(b, 'b', ['z'])
    const req = decodeRequest(encodeRequest({ t: 'sync', b: { nid: 'n', buckets: 1, hashes: [0, 0], count: 0 } }))
    assert.ok(req.t === 'sync')
    const res = decodeResponse([...answerSync(b, 'a', req.b)][0]!)
    assert.ok(res.t === 'entries' && res.b.packed === undefined && res.b.entries.length === 1)
  })
})
