/** `ovnet agent --docker-plugin [PATH]`: the flag alone (or `docker-plugin: true` in the file) means Docker's default path. */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, loadAgentConfig } from '../../agent/config.js'
import { DEFAULT_PLUGIN_SOCKET } from '../../agent/docker-plugin/index.js'
import { keyedTempDirFixture } from '../agent/helpers.js'

describe('docker plugin: agent configuration', () => {
  const tmp = keyedTempDirFixture()

  it('the flag without a path is /run/docker/plugins/ovnet.sock; a path is resolved', async () => {
    assert.equal(DEFAULT_PLUGIN_SOCKET, '/run/docker/plugins/ovnet.sock')
    assert.equal((await loadAgentConfig({ clusterKey: tmp.key, dockerPlugin: true }, { cwd: tmp.dir })).dockerPlugin, DEFAULT_PLUGIN_SOCKET)
    assert.equal((await loadAgentConfig({ clusterKey: tmp.key, dockerPlugin: 'p.sock' }, { cwd: tmp.dir })).dockerPlugin, join(tmp.dir, 'p.sock'))
    assert.equal((await loadAgentConfig({ clusterKey: tmp.key }, { cwd: tmp.dir })).dockerPlugin, undefined)
  })

  it('in the YAML file: true, a path, or a one-line error', async () => {
    const file = join(tmp.dir, 'ovnet.yaml')
    await writeFile(file, `cluster-key: ${tmp.key}\ndocker-plugin: true\n`)
    assert.equal((await loadAgentConfig({ config: file }, { cwd: tmp.dir })).dockerPlugin, DEFAULT_PLUGIN_SOCKET)
    await writeFile(file, `cluster-key: ${tmp.key}\ndocker-plugin: 5\n`)
    await assert.rejects(loadAgentConfig({ config: file }, { cwd: tmp.dir }), (err: unknown) =>
      err instanceof ConfigError && err.field === 'docker-plugin' && /socket path or true/.test(err.message))
  })
})
