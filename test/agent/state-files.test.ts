import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PLUGIN_STATE_FILE } from '../../agent/docker-plugin/index.js'
import { PluginState } from '../../agent/docker-plugin/state.js'
import { LocalState } from '../../agent/local-state.js'
import { tempDir } from './helpers.js'

describe('agent state files: checked against their schema (zod)', () => {
  let dir: string
  let cleanup: () => Promise<void>
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('ovnet-state-')) })
  afterEach(async () => { await cleanup() })

  const ep = { nid: 'n1', eid: 'e1', name: 'c1', netns: 'ns1', address: '10.0.0.2/24', mac: '02:42:0a:00:00:02', entries: [{ table: 't', key: 'k' }] }

  it('the agent state: a wrong shape is refused with where it is wrong, and the file is left alone', async () => {
    const path = join(dir, 'agent-state.json')
    const bad = JSON.stringify({ version: 1, networks: [], endpoints: [{ ...ep, entries: 'none' }] })
    await writeFile(path, bad)
    await assert.rejects(LocalState.load(dir), /agent state .* has an unknown format: endpoints\.0\.entries: /)
    assert.equal(await readFile(path, 'utf8'), bad)
    await writeFile(path, JSON.stringify({ version: 2, networks: [], endpoints: [] }))
    await assert.rejects(LocalState.load(dir), /unknown format: version: /)
  })

  it('the agent state: a valid file loads, and fields of a later version survive a save', async () => {
    await writeFile(join(dir, 'agent-state.json'), JSON.stringify({
      version: 1, networks: [{ nid: 'n1', poolId: 'p', gateway: '' }], endpoints: [{ ...ep, future: 'kept' }]
    }))
    const s = await LocalState.load(dir)
    assert.equal(s.endpoints.get('e1')?.address, '10.0.0.2/24')
    await s.save()
    const again = JSON.parse(await readFile(join(dir, 'agent-state.json'), 'utf8')) as { endpoints: Array<Record<string, unknown>> }
    assert.equal(again.endpoints[0]?.future, 'kept')
  })

  it('the Docker plugin state: a wrong shape is refused; a valid one loads', async () => {
    const path = join(dir, PLUGIN_STATE_FILE)
    const pool = { poolId: 'p1', nid: 'n1', name: 'web', pool: '10.0.0.0/24', created: true, bound: false, superseded: false }
    await writeFile(path, JSON.stringify({ version: 1, pools: [{ ...pool, bound: 'yes' }], networks: [], endpoints: [] }))
    await assert.rejects(PluginState.load(dir), /docker plugin state .* has an unknown format: pools\.0\.bound: /)
    await writeFile(path, JSON.stringify({ version: 1, pools: [pool], networks: [{ id: 'd1', nid: 'n1', name: 'web' }], endpoints: [] }))
    const s = await PluginState.load(dir)
    assert.deepEqual(s.pools.get('p1'), pool)
  })
})
