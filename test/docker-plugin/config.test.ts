/** `ovnet agent --docker-plugin [PATH]`: the flag alone (or `docker-plugin: true` in the file) means Docker's default path. */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, loadAgentConfig } from '../../agent/config.js'
import { DEFAULT_PLUGIN_SOCKET } from '../../agent/docker-plugin/index.js'
import { keyedTempDir } from '../agent/helpers.js'

describe('docker plugin: agent configuration', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let key: string

  before(async () => {
    ({ dir, cleanup, key } = await keyedTempDir())
  })
  after(async () => { await cleanup() })

  it('the flag without a path is /run/docker/plugins/ovnet.sock; a path is resolved', async () => {
    assert.equal(DEFAULT_PLUGIN_SOCKET, '/run/docker/plugins/ovnet.sock')
    assert.equal((await loadAgentConfig({ clusterKey: key, dockerPlugin: true }, { cwd: dir })).dockerPlugin, DEFAULT_PLUGIN_SOCKET)
    assert.equal((await loadAgentConfig({ clusterKey: key, dockerPlugin: 'p.sock' }, { cwd: dir })).dockerPlugin, join(dir, 'p.sock'))
    assert.equal((await loadAgentConfig({ clusterKey: key }, { cwd: dir })).dockerPlugin, undefined)
  })

  it('in the YAML file: true, a path, or a one-line error', async () => {
    const file = join(dir, 'ovnet.yaml')
    await writeFile(file, `cluster-key: ${key}\ndocker-plugin: true\n`)
    assert.equal((await loadAgentConfig({ config: file }, { cwd: dir })).dockerPlugin, DEFAULT_PLUGIN_SOCKET)
    await writeFile(file, `cluster-key: ${key}\ndocker-plugin: 5\n`)
    await assert.rejects(loadAgentConfig({ config: file }, { cwd: dir }), (err: unknown) =>
      err instanceof ConfigError && err.field === 'docker-plugin' && /socket path or true/.test(err.message))
  })
})
