/**
 * CI checks of the deploy kit (deploy/): the systemd unit passes `systemd-analyze verify`, the
 * cloud-init user-data passes `cloud-init schema`, the example configuration is accepted by the
 * agent's own loader with every documented default, and the scripts parse. The VMs are not
 * started. The tools come from scripts/setup-host.sh (`npm test` runs it first).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { AGENT_DEFAULTS, loadAgentConfig } from '../../agent/index.js'
import { generateClusterKey, defaultConfig } from '../../networkdb/index.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const UNIT = join(REPO, 'deploy/systemd/ovnet.service')
const EXAMPLE = join(REPO, 'deploy/etc/ovnet.yaml.example')
const USER_DATA = join(REPO, 'deploy/cloud-init/user-data.yaml')

async function run (cmd: string, args: readonly string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 127)
      resolve({ code, stdout, stderr })
    })
  })
}

async function have (tool: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${tool}`])).code === 0
}

describe('deploy kit', function () {
  this.timeout(60_000)
  let dir: string

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'ovnet-deploy-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  describe('systemd unit', () => {
    it('passes systemd-analyze verify without a single warning', async function () {
      if (!await have('systemd-analyze')) this.skip()
      // verify checks that ExecStart's program exists; /usr/local/bin/ovnet exists only on an
      // installed host, so point a copy at this checkout's launcher (same arguments).
      const unit = (await readFile(UNIT, 'utf8')).replace(/^ExecStart=\/usr\/local\/bin\/ovnet /m, `ExecStart=${join(REPO, 'bin/ovnet.js')} `)
      assert.notEqual(unit, await readFile(UNIT, 'utf8'), 'ExecStart is /usr/local/bin/ovnet')
      const copy = join(dir, 'ovnet.service')
      await writeFile(copy, unit)
      const r = await run('systemd-analyze', ['verify', copy])
      assert.equal(r.code, 0, r.stderr)
      // unknown keys and misplaced settings are only warnings: none is allowed
      assert.equal(r.stderr.trim(), '', r.stderr)
    })

    it('verify does catch a broken unit (the check can fail)', async function () {
      if (!await have('systemd-analyze')) this.skip()
      const bad = join(dir, 'bad.service')
      await writeFile(bad, '[Service]\nExecStart=/nonexistent/ovnet agent\nRestart=sometimes\n')
      const r = await run('systemd-analyze', ['verify', bad])
      assert.ok(r.code !== 0 || r.stderr.trim() !== '')
    })

    it('starts before docker, restarts on failure, keeps its dirs, and holds exactly the capabilities it needs', async () => {
      const unit = await readFile(UNIT, 'utf8')
      const values = (key: string): string[] => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map(m => m[1]!.trim())
      assert.deepEqual(values('Before'), ['docker.service'])
      assert.deepEqual(values('Restart'), ['on-failure'])
      assert.deepEqual(values('RuntimeDirectory'), ['ovnet'])
      assert.deepEqual(values('StateDirectory'), ['ovnet'])
      assert.deepEqual(values('ExecStart'), ['/usr/local/bin/ovnet agent --config /etc/ovnet/ovnet.yaml'])
      assert.deepEqual(values('CapabilityBoundingSet')[0]!.split(/\s+/).sort(), ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYS_ADMIN'])
      // No private mount namespace: the sandboxes' /run/netns bind mounts must stay visible.
      for (const key of ['ProtectSystem', 'PrivateTmp', 'ProtectHome', 'PrivateMounts', 'ReadWritePaths']) assert.deepEqual(values(key), [], key)
      // The socket and data dir the unit provides are the agent's defaults.
      assert.equal(AGENT_DEFAULTS.socket, '/run/ovnet/ovnet.sock')
      assert.equal(AGENT_DEFAULTS.dataDir, '/var/lib/ovnet')
    })
  })

  describe('configuration example', () => {
    it('is accepted by the agent and yields exactly the defaults', async () => {
      const key = join(dir, 'cluster.key')
      await generateClusterKey(key)
      const example = await loadAgentConfig({ config: EXAMPLE, clusterKey: key }, { hostname: 'node-x' })
      const defaults = await loadAgentConfig({ clusterKey: key }, { hostname: 'node-x' })
      assert.deepEqual({ ...example, configFile: undefined }, { ...defaults, configFile: undefined })
      assert.deepEqual(example.networkdb, defaultConfig)
    })

    it('documents every agent setting and every NetworkDB timer', async () => {
      const text = await readFile(EXAMPLE, 'utf8')
      const settings = ['name', 'data-dir', 'socket', 'bind', 'advertise', 'join', 'cluster-key', 'vxlan-port', 'encrypted-vxlan-port', 'wg-interface', 'wg-port', 'metrics', 'log-level', 'docker-plugin', 'networkdb']
      for (const s of settings) assert.match(text, new RegExp(`^#? ?${s}:`, 'm'), `${s} is documented`)
      const doc = parseYaml(text) as { networkdb: Record<string, number> }
      assert.deepEqual(Object.keys(doc.networkdb).sort(), Object.keys(defaultConfig).sort())
      // the commented examples are valid too
      const uncommented = text.replace(/^# ((name|advertise|join|metrics|docker-plugin|encrypted-vxlan-port):.*)$/gm, '$1').replace(/^# {3}- /gm, '  - ')
      const file = join(dir, 'all.yaml')
      await writeFile(file, uncommented)
      const key = join(dir, 'cluster.key')
      const all = await loadAgentConfig({ config: file, clusterKey: key }, { hostname: 'node-x' })
      assert.equal(all.name, 'node-1')
      assert.equal(all.join.length, 2)
      assert.equal(all.advertise, '192.168.56.11')
    })
  })

  describe('cloud-init and scripts', () => {
    it('the user-data passes cloud-init\'s schema check', async function () {
      if (!await have('cloud-init')) this.skip()
      const r = await run('cloud-init', ['schema', '--config-file', USER_DATA])
      assert.equal(r.code, 0, r.stderr + r.stdout)
      assert.match(r.stdout, /Valid cloud-config/)
      assert.doesNotMatch(r.stdout + r.stderr, /deprecat/i)
    })

    it('the schema check catches a broken user-data (the check can fail)', async function () {
      if (!await have('cloud-init')) this.skip()
      const bad = join(dir, 'bad-user-data.yaml')
      await copyFile(USER_DATA, bad)
      await writeFile(bad, (await readFile(bad, 'utf8')).replace(/^packages:\n(  - .*\n)+/m, 'packages: 3\n'))
      const r = await run('cloud-init', ['schema', '--config-file', bad])
      assert.notEqual(r.code, 0)
    })

    it('the user-data runs deploy/install.sh, which installs the unit and writes the configuration', async () => {
      const userData = await readFile(USER_DATA, 'utf8')
      assert.match(userData, /^#cloud-config\n/)
      const doc = parseYaml(userData) as { write_files: Array<{ path: string, content: string }>, runcmd: unknown[] }
      const env = doc.write_files.find(f => f.path === '/etc/ovnet/install.env')!.content
      for (const v of ['OVNET_CLUSTER_KEY_HEX', 'OVNET_SEEDS', 'OVNET_ADVERTISE', 'OVNET_REPO', 'OVNET_REF']) assert.match(env, new RegExp(`^${v}=`, 'm'))
      assert.ok(JSON.stringify(doc.runcmd).includes('/opt/ovnet/deploy/install.sh'))
      const install = await readFile(join(REPO, 'deploy/install.sh'), 'utf8')
      assert.match(install, /deploy\/systemd\/ovnet\.service" \/etc\/systemd\/system\/ovnet\.service/)
      assert.match(install, /\/etc\/ovnet\/ovnet\.yaml/)
    })

    it('the shell scripts parse', async () => {
      for (const f of ['deploy/install.sh', 'deploy/vagrant/chaos-hosts.sh', 'scripts/setup-host.sh']) {
        const r = await run('bash', ['-n', join(REPO, f)])
        assert.equal(r.code, 0, `${f}: ${r.stderr}`)
      }
    })

    it('the Vagrantfile provisions with install.sh, N from OVNET_VMS, on a private network', async () => {
      const v = await readFile(join(REPO, 'deploy/vagrant/Vagrantfile'), 'utf8')
      assert.match(v, /ENV\.fetch\('OVNET_VMS', '3'\)/)
      assert.match(v, /private_network/)
      assert.match(v, /'deploy', 'install\.sh'/)
      if (await have('ruby')) {
        const r = await run('ruby', ['-c', join(REPO, 'deploy/vagrant/Vagrantfile')])
        assert.equal(r.code, 0, r.stderr)
      }
    })
  })
})
