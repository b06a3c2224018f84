import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ConfigError, loadAgentConfig, parseHostPort, type AgentFlags } from '../../agent/config.js'
import { defaultConfig } from '../../networkdb/index.js'
import { keyedTempDirFixture } from './helpers.js'

describe('agent configuration', function () {
  const tmp = keyedTempDirFixture()

  const load = async (flags: AgentFlags) => await loadAgentConfig({ clusterKey: tmp.key, ...flags }, { cwd: tmp.dir, hostname: 'node-a' })

  async function fileWith (yaml: string): Promise<string> {
    const path = join(tmp.dir, `c-${Math.random().toString(36).slice(2)}.yaml`)
    await writeFile(path, yaml)
    return path
  }

  /** The load fails with one ConfigError naming `field`, whose text matches `text`. */
  async function rejects (flags: AgentFlags, field: string, text: RegExp): Promise<void> {
    await assert.rejects(loadAgentConfig(flags, { cwd: tmp.dir, hostname: 'node-a' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
      assert.equal(err.field, field)
      assert.match(err.message, text)
      assert.ok(!err.message.includes('\n'), 'one line')
      assert.ok(err.message.startsWith('invalid configuration: '))
      return true
    })
  }

  it('fills the documented defaults', async () => {
    const c = await load({})
    assert.equal(c.name, 'node-a')
    assert.equal(c.dataDir, '/var/lib/ovnet')
    assert.equal(c.socket, '/run/ovnet/ovnet.sock')
    assert.deepEqual(c.bind, { host: '0.0.0.0', port: 7946 })
    assert.equal(c.advertise, undefined)
    assert.deepEqual(c.join, [])
    assert.equal(c.clusterKey, tmp.key)
    assert.equal(c.vxlanPort, 4789)
    assert.equal(c.metrics, undefined)
    assert.equal(c.logLevel, 'info')
    assert.equal(c.dockerPlugin, undefined)
    assert.deepEqual(c.networkdb, { ...defaultConfig })
  })

  it('parses every flag, resolving relative paths against the working directory', async () => {
    const c = await load({
      name: 'h1', dataDir: 'data', socket: 's.sock', bind: '192.0.2.1:0', advertise: '192.0.2.1',
      join: ['192.0.2.2:7946,192.0.2.3:7946', 'seed.example:7000'], vxlanPort: '4790', metrics: '127.0.0.1:9400',
      logLevel: 'debug', dockerPlugin: 'plugin.sock'
    })
    assert.equal(c.dataDir, join(tmp.dir, 'data'))
    assert.equal(c.socket, join(tmp.dir, 's.sock'))
    assert.deepEqual(c.bind, { host: '192.0.2.1', port: 0 })
    assert.deepEqual(c.join, [{ host: '192.0.2.2', port: 7946 }, { host: '192.0.2.3', port: 7946 }, { host: 'seed.example', port: 7000 }])
    assert.equal(c.vxlanPort, 4790)
    assert.deepEqual(c.metrics, { host: '127.0.0.1', port: 9400 })
    assert.equal(c.logLevel, 'debug')
    assert.equal(c.dockerPlugin, join(tmp.dir, 'plugin.sock'))
  })

  it('reads a YAML file (flag names or camelCase) and lets flags override it', async () => {
    const file = await fileWith([
      'name: from-file',
      'data-dir: /srv/ovnet',
      'vxlanPort: 4800',
      'join: [ "192.0.2.9:7946" ]',
      `cluster-key: ${tmp.key}`,
      'networkdb:',
      '  probeIntervalMs: 1000',
      '  suspicion-timeout-ms: 3000'
    ].join('\n'))
    const c = await loadAgentConfig({ config: file, name: 'from-flag' }, { cwd: tmp.dir, hostname: 'node-a' })
    assert.equal(c.name, 'from-flag')
    assert.equal(c.dataDir, '/srv/ovnet')
    assert.equal(c.vxlanPort, 4800)
    assert.deepEqual(c.join, [{ host: '192.0.2.9', port: 7946 }])
    assert.equal(c.networkdb.probeIntervalMs, 1000)
    assert.equal(c.networkdb.suspicionTimeoutMs, 3000)
    assert.equal(c.networkdb.probeTimeoutMs, defaultConfig.probeTimeoutMs)
    assert.equal(c.configFile, file)
  })

  describe('names the bad field', function () {
    it('cluster-key missing, absent or not a key', async () => {
      await rejects({}, 'cluster-key', /cluster-key: required/)
      await rejects({ clusterKey: join(tmp.dir, 'nope.key') }, 'cluster-key', /nope\.key not found \(create one with `ovnet keygen/)
      const bad = join(tmp.dir, 'bad.key')
      await writeFile(bad, 'not a key\n')
      await rejects({ clusterKey: bad }, 'cluster-key', /cluster-key: cluster key .*bad\.key: expected 3 lines/)
    })

    it('vxlan-port outside 1024-49151 or not a number', async () => {
      for (const v of ['80', '49152', '0', 'abc', '4789.5', '-1']) {
        await rejects({ clusterKey: tmp.key, vxlanPort: v }, 'vxlan-port', /vxlan-port: must be an integer in 1024-49151/)
      }
    })

    it('bind, join and metrics addresses', async () => {
      await rejects({ clusterKey: tmp.key, bind: '0.0.0.0' }, 'bind', /bind: expected ADDR:PORT/)
      await rejects({ clusterKey: tmp.key, bind: 'myhost:7946' }, 'bind', /bind: "myhost" is not an IP address/)
      await rejects({ clusterKey: tmp.key, bind: '0.0.0.0:70000' }, 'bind', /bind: port 70000 is out of range/)
      await rejects({ clusterKey: tmp.key, join: ['192.0.2.1:7946', '192.0.2.2'] }, 'join.1', /join\.1: expected ADDR:PORT, got "192\.0\.2\.2"/)
      await rejects({ clusterKey: tmp.key, join: ['192.0.2.1:0'] }, 'join.0', /port 0 is out of range/)
      await rejects({ clusterKey: tmp.key, metrics: 'nowhere' }, 'metrics', /metrics: expected ADDR:PORT/)
      await rejects({ clusterKey: tmp.key, metrics: '0.0.0.0:7946' }, 'metrics', /metrics: 0\.0\.0\.0:7946 collides with bind/)
    })

    it('advertise must be an IPv4 address', async () => {
      await rejects({ clusterKey: tmp.key, advertise: 'example.org' }, 'advertise', /advertise: "example\.org" is not an IPv4 address/)
      await rejects({ clusterKey: tmp.key, advertise: '::1' }, 'advertise', /is not an IPv4 address/)
    })

    it('name, log-level, socket path length, empty values', async () => {
      await rejects({ clusterKey: tmp.key, name: 'bad name!' }, 'name', /name: must be 1-64 characters/)
      await rejects({ clusterKey: tmp.key, logLevel: 'loud' }, 'log-level', /log-level: must be one of trace, debug, info, warn, error, fatal, silent/)
      await rejects({ clusterKey: tmp.key, socket: '/tmp/' + 'x'.repeat(120) }, 'socket', /socket: path .* is longer than 107 bytes/)
      await rejects({ clusterKey: tmp.key, dataDir: '' }, 'data-dir', /data-dir: must not be empty/)
    })

    it('config file problems: unreadable, not YAML, not a mapping, unknown or duplicate keys', async () => {
      await rejects({ config: join(tmp.dir, 'absent.yaml') }, 'config', /config: cannot read .*absent\.yaml: ENOENT/)
      await rejects({ config: await fileWith('name: [unclosed') }, 'config', /config: .* line 1: not valid YAML/)
      await rejects({ config: await fileWith('- a\n- b\n') }, 'config', /must be a mapping of settings/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nvxlan-prot: 4789\n`) }, 'vxlan-prot', /vxlan-prot: unknown setting/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\ndata-dir: /a\ndataDir: /b\n`) }, 'data-dir', /data-dir: set twice/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nvxlan-port: "big"\n`) }, 'vxlan-port', /vxlan-port: must be an integer/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\njoin: 5\n`) }, 'join', /join: must be a list of ADDR:PORT/)
    })

    it('networkdb section: unknown timer, bad value, inconsistent timers', async () => {
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nnetworkdb:\n  probeEveryMs: 5\n`) }, 'networkdb.probeEveryMs', /networkdb\.probeEveryMs: unknown setting/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nnetworkdb:\n  probeIntervalMs: -5\n`) }, 'networkdb.probeIntervalMs', /must be a non-negative number, got -5/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nnetworkdb:\n  probeIntervalMs: 100\n  probeTimeoutMs: 200\n`) }, 'networkdb.probeTimeoutMs', /networkdb\.probeTimeoutMs must be below probeIntervalMs/)
      await rejects({ config: await fileWith(`cluster-key: ${tmp.key}\nnetworkdb: 3\n`) }, 'networkdb', /networkdb: must be a mapping/)
    })

    it('reports every bad field of one load on the same line', async () => {
      await assert.rejects(load({ vxlanPort: '1', logLevel: 'x' }), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.match(err.message, /vxlan-port: .*; log-level: /)
        return true
      })
    })
  })

  it('parseHostPort handles IPv6 brackets and host names only where allowed', () => {
    assert.deepEqual(parseHostPort('[::1]:80', { allowHostname: false, allowPortZero: false }), { host: '::1', port: 80 })
    assert.equal(typeof parseHostPort('a.example:80', { allowHostname: false, allowPortZero: false }), 'string')
    assert.deepEqual(parseHostPort('a.example:80', { allowHostname: true, allowPortZero: false }), { host: 'a.example', port: 80 })
    assert.equal(typeof parseHostPort('1.2.3.4:0', { allowHostname: false, allowPortZero: false }), 'string')
  })
})
