import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeGossip, decodeRequest, decodeResponse, encodeGossip, encodeRequest, encodeResponse, pack, WireError,
  type GossipMessage, type WireEntry
} from '../../proto/index.js'

const batch: WireEntry[] = [
  { table: 't', key: 'k1', owner: 'node-a', ltime: 7, deleted: false, value: new Uint8Array([1, 2, 3]), reapIn: 0 },
  { table: 'u', key: 'k2', owner: 'node-b', ltime: 2 ** 40, deleted: true, value: new Uint8Array(0), reapIn: 1_800_000 },
  { table: 't', key: 'k3', owner: 'node-a', ltime: 9, deleted: false, value: new Uint8Array([9]), reapIn: 0 }
]

const decoders = [decodeGossip, decodeRequest, decodeResponse]

function onlyWireErrors (bytes: Uint8Array): void {
  for (const d of decoders) {
    try {
      d(bytes)
    } catch (err) {
      if (!(err instanceof WireError)) throw new Error(`decoder threw ${String(err)} for ${Buffer.from(bytes).toString('hex')}`)
    }
  }
}

const samples: Uint8Array[] = [
  encodeGossip({ t: 'node', b: { kind: 'alive', node: 'a', name: 'n', advertise: '10.0.0.1', addrs: ['x'], inc: 3 } }),
  encodeGossip({ t: 'net', b: { node: 'a', nid: 'n', ltime: 4, join: true } }),
  encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'k', owner: 'a', ltime: 1, deleted: false, value: new Uint8Array([1, 2]), reapIn: 0 }] } } satisfies GossipMessage),
  encodeRequest({ t: 'sync', b: { nid: 'n', buckets: 2, hashes: [1, 2, 3, 4], count: 9 } }),
  encodeRequest({ t: 'pingreq', b: { target: 'b', timeoutMs: 300 } }),
  encodeResponse({ t: 'entries', b: { nid: 'n', entries: [], want: [0, 1] } }),
  encodeResponse({ t: 'entries', b: { nid: 'n', entries: batch, packed: true, want: [3] } }),
  encodeRequest({ t: 'push', b: { nid: 'n', entries: batch, packed: true } }),
  encodeRequest({ t: 'sync', b: { nid: 'n', buckets: 1, hashes: [5, 6], count: 3, packed: true } }),
  encodeResponse({ t: 'ack', b: { ok: true, detail: '' } })
]

describe('wire decoders', function () {
  it('round-trip every message type', () => {
    assert.deepEqual(decodeGossip(samples[1]!), { t: 'net', b: { node: 'a', nid: 'n', ltime: 4, join: true } })
    assert.deepEqual(decodeRequest(samples[3]!).b, { nid: 'n', buckets: 2, hashes: [1, 2, 3, 4], count: 9 })
    const t = decodeGossip(samples[2]!)
    assert.equal(t.t, 'tables')
  })

  it('entry batches round-trip in the list form and in the packed form (a third of the bytes)', () => {
    const n = 300
    const many: WireEntry[] = Array.from({ length: n }, (_, i) => ({ table: 't', key: `e${i}`, owner: '12D3KooWJ7uQ3p4x7oxpvFBwWdKjGksZH2TNiSCsyhDkwnfXJ8Ru', ltime: i + 1, deleted: i % 7 === 0, value: new Uint8Array(36).fill(i), reapIn: i % 7 === 0 ? 1000 + i : 0 }))
    const list = encodeResponse({ t: 'entries', b: { nid: 'n', entries: many, want: [1, 2] } })
    const packed = encodeResponse({ t: 'entries', b: { nid: 'n', entries: many, packed: true, want: [1, 2] } })
    const a = decodeResponse(list)
    const b = decodeResponse(packed)
    assert.ok(a.t === 'entries' && b.t === 'entries')
    assert.equal(a.b.packed, undefined)
    assert.equal(b.b.packed, true)
    assert.deepEqual(b.b.want, [1, 2])
    for (const got of [a.b.entries, b.b.entries]) {
      assert.deepEqual(got.map(e => ({ ...e, value: [...e.value] })), many.map(e => ({ ...e, value: [...e.value] })))
    }
    assert.ok(packed.byteLength * 2.5 < list.byteLength, `packed ${packed.byteLength} B vs list ${list.byteLength} B`)
    const push = decodeRequest(samples[7]!)
    assert.ok(push.t === 'push' && push.b.packed === true)
    assert.deepEqual(push.b.entries.map(e => e.key), ['k1', 'k2', 'k3'])
    assert.deepEqual(push.b.entries[1], { ...batch[1], value: push.b.entries[1]!.value })
    const sync = decodeRequest(samples[8]!)
    assert.ok(sync.t === 'sync' && sync.b.packed === true)
    // a requester that predates the packed form sends no flag, and gets the list form
    const old = decodeRequest(samples[3]!)
    assert.ok(old.t === 'sync' && old.b.packed === undefined)
  })

  it('packed entries with bad indices, fields or lengths are rejected with WireError', () => {
    const good = { tables: ['t'], owners: ['a'], e: [0, 0, 'k', 1, 0, 0, new Uint8Array(1)] }
    const bad: Array<[string, unknown]> = [
      ['table index out of range', { ...good, e: [1, 0, 'k', 1, 0, 0, new Uint8Array(1)] }],
      ['negative owner index', { ...good, e: [0, -1, 'k', 1, 0, 0, new Uint8Array(1)] }],
      ['fractional index', { ...good, e: [0.5, 0, 'k', 1, 0, 0, new Uint8Array(1)] }],
      ['key not a string', { ...good, e: [0, 0, 5, 1, 0, 0, new Uint8Array(1)] }],
      ['negative ltime', { ...good, e: [0, 0, 'k', -1, 0, 0, new Uint8Array(1)] }],
      ['deleted not 0/1', { ...good, e: [0, 0, 'k', 1, 2, 0, new Uint8Array(1)] }],
      ['value not bytes', { ...good, e: [0, 0, 'k', 1, 0, 0, 'v'] }],
      ['length not a multiple of 7', { ...good, e: [0, 0, 'k', 1, 0, 0] }],
      ['owner not a string', { ...good, owners: [3] }],
      ['table name too long', { ...good, tables: ['x'.repeat(300)] }]
    ]
    assert.doesNotThrow(() => decodeRequest(pack({ v: 1, t: 'push', b: { nid: 'n', p: good } })))
    for (const [what, p] of bad) {
      assert.throws(() => decodeRequest(pack({ v: 1, t: 'push', b: { nid: 'n', p } })), (e: unknown) => e instanceof WireError && e.reason === 'shape', what)
      assert.throws(() => decodeResponse(pack({ v: 1, t: 'entries', b: { nid: 'n', p, want: [] } })), (e: unknown) => e instanceof WireError && e.reason === 'shape', what)
    }
  })

  it('reject unknown versions, unknown types, bad shapes and oversize frames with WireError', () => {
    assert.throws(() => decodeGossip(pack({ v: 2, t: 'node', b: {} })), (e: unknown) => e instanceof WireError && e.reason === 'version')
    assert.throws(() => decodeGossip(pack({ v: 1, t: 'bogus', b: {} })), (e: unknown) => e instanceof WireError && e.reason === 'type')
    assert.throws(() => decodeRequest(pack({ v: 1, t: 'sync', b: { nid: 'n', buckets: 3, hashes: [0, 0, 0, 0, 0, 0], count: 0 } })), (e: unknown) => e instanceof WireError && e.reason === 'shape')
    assert.throws(() => decodeGossip(new Uint8Array(5 * 1024 * 1024)), (e: unknown) => e instanceof WireError && e.reason === 'oversize')
  })

  it('random bytes never throw anything but WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => { onlyWireErrors(bytes) }), { numRuns: 3000 })
  })

  it('mutated valid frames never throw anything but WireError', () => {
    const mutated = fc.tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
      .map(([base, flips, cut]) => {
        const b = base.slice()
        for (const [pos, val] of flips) b[pos % b.length] = val
        return b.slice(0, Math.max(1, b.length - (cut % 4)))
      })
    fc.assert(fc.property(mutated, bytes => { onlyWireErrors(bytes) }), { numRuns: 5000 })
  })

  it('random msgpack values in an envelope never throw anything but WireError', () => {
    fc.assert(fc.property(fc.constantFrom('node', 'net', 'tables', 'sync', 'push', 'pingreq', 'pushpull', 'entries', 'ack'), fc.anything(), (t, b) => {
      onlyWireErrors(pack({ v: 1, t, b }))
    }), { numRuns: 3000 })
  })
})
