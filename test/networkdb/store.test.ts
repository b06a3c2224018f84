import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LmdbStore } from '../../networkdb/adapters.js'

describe('LmdbStore', function () {
  let dir = ''
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ovnet-store-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reloads own entries and networks with long ids (agent-sized keys), and deletes a network with its entries', async () => {
    const nid = 'f'.repeat(64)
    const other = 'e'.repeat(64)
    const s = new LmdbStore(dir)
    await s.putMeta({ incarnation: 7, tableClock: 9, networkClock: 3 })
    await s.putNetwork({ nid, ltime: 1 })
    await s.putNetwork({ nid: other, ltime: 2 })
    for (let k = 0; k < 5; k++) await s.putEntry({ nid, table: 'overlay_peer_table', key: `${'a'.repeat(60)}${k}`, ltime: k + 1, deleted: false, value: new Uint8Array([k]), reapAt: 0 })
    await s.putEntry({ nid: other, table: 'endpoint_table', key: `${other}/${'b'.repeat(64)}`, ltime: 8, deleted: true, value: new Uint8Array(0), reapAt: 123 })
    await s.close()
    const r = new LmdbStore(dir)
    const st = await r.load()
    assert.deepEqual(st.meta, { incarnation: 7, tableClock: 9, networkClock: 3 })
    assert.equal(st.networks.length, 2)
    assert.equal(st.entries.length, 6)
    assert.deepEqual([...st.entries.find(e => e.key.endsWith('3'))!.value], [3])
    await r.deleteNetwork(nid)
    const after = await r.load()
    assert.deepEqual(after.networks.map(n => n.nid), [other])
    assert.deepEqual(after.entries.map(e => e.nid), [other])
    await r.close()
  })
})
