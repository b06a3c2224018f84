/**
 * The systemd unit's capability set is what the agent truly needs (root): two agents of a netns
 * lab run as root with exactly the unit's CapabilityBoundingSet and NoNewPrivileges (setpriv does
 * what systemd does), and they form a cluster, create a network, attach on both hosts, carry a
 * ping across and measure the peers' RTT. Without CAP_SYS_ADMIN an attach fails: it is needed.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { ApiClient } from '../../agent/index.js'
import { generateClusterKey } from '../../networkdb/index.js'
import { exec, spawnIn } from '../../deploy/lab/netns.js'
import { createContainer, createLab, destroyLab, type Lab } from '../../deploy/lab/topology.js'
import { until as waitUntil } from '../agent/helpers.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))

async function unitCapabilities (): Promise<string[]> {
  const unit = await readFile(join(REPO, 'deploy/systemd/ovnet.service'), 'utf8')
  const line = /^CapabilityBoundingSet=(.*)$/m.exec(unit)
  assert.ok(line !== null, 'the unit sets CapabilityBoundingSet')
  return line[1]!.trim().split(/\s+/)
}

const until = async (what: string, fn: () => Promise<boolean>, ms = 30_000): Promise<void> => { await waitUntil(what, fn, ms) }

describe('deploy: the unit\'s capabilities are sufficient and necessary (root)', function () {
  this.timeout(120_000)
  const prefix = `cp${randomBytes(3).toString('hex')}`
  let lab: Lab | undefined
  const agents: ChildProcess[] = []

  before(async function () {
    if (process.getuid?.() !== 0 || (await exec('sh', ['-c', 'command -v setpriv'])).code !== 0) this.skip()
    lab = await createLab({ hosts: 2, prefix })
    await mkdir(lab.stateDir, { recursive: true, mode: 0o700 })
    await generateClusterKey(join(lab.stateDir, 'cluster.key'))
  })
  after(async () => {
    for (const a of agents) a.kill('SIGKILL')
    await destroyLab(prefix)
  })

  /** Start the agent of host i as root limited to `caps` (systemd's bounding set + NoNewPrivileges). */
  async function start (i: number, caps: string[], tag: string): Promise<ApiClient> {
    const h = lab!.hosts[i]!
    const dir = join(lab!.stateDir, `${tag}-${h.name}`)
    const socket = join(dir, 'ovnet.sock')
    const bounding = ['-all', ...caps.map(c => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',')
    const child = spawnIn(h.ns, 'setpriv', [
      '--bounding-set', bounding, '--inh-caps', '-all', '--no-new-privs', '--',
      process.execPath, join(REPO, 'bin/ovnet.js'), 'agent',
      '--name', `${tag}-${h.ns}`, '--bind', `${h.ip}:7946`, '--advertise', h.ip,
      ...(i === 0 ? [] : ['--join', `${lab!.hosts[0]!.ip}:7946`]),
      '--cluster-key', join(lab!.stateDir, 'cluster.key'), '--data-dir', join(dir, 'data'), '--socket', socket, '--log-level', 'warn'
    ], { stdio: 'ignore', cwd: REPO })
    agents.push(child)
    const client = new ApiClient(socket, { timeoutMs: 20_000 })
    await until(`agent ${tag} on ${h.name}`, async () => { await client.ping(); return true })
    return client
  }

  async function stopAll (): Promise<void> {
    for (const a of agents.splice(0)) {
      a.kill('SIGTERM')
      if (a.exitCode === null && a.signalCode === null) await new Promise(resolve => a.once('exit', resolve))
    }
  }

  it('with exactly the unit\'s capabilities: cluster, network, attach on both hosts, ping across, RTT', async () => {
    const caps = await unitCapabilities()
    const c1 = await start(0, caps, 'ok')
    const c2 = await start(1, caps, 'ok')
    await until('two members alive', async () => (await c1.members()).filter(m => m.Status === 'alive').length === 2)
    await c1.createNetwork({ Name: 'capnet', Subnet: '10.77.0.0/24' })
    await until('network known on h2', async () => (await c2.listNetworks()).some(n => n.Name === 'capnet'))
    const a = await c1.attach('capnet', { Netns: await createContainer(prefix, 'h1', 'c1'), Name: 'c1' })
    const b = await c2.attach('capnet', { Netns: await createContainer(prefix, 'h2', 'c1'), Name: 'c2' })
    await until('ping across hosts', async () => (await exec('ip', ['netns', 'exec', `${prefix}-h1-c1`, 'ping', '-c', '1', '-W', '1', b.IPv4Address.split('/')[0]!])).code === 0)
    assert.match(a.IPv4Address, /^10\.77\.0\./)
    // CAP_NET_RAW: the ICMP prober measures the peer
    await until('RTT of the peer', async () => (await c1.members()).some(m => m.Name.endsWith('-h2') && m.RTT !== null))
    await c1.detach('capnet', { Netns: `${prefix}-h1-c1` })
    await c2.detach('capnet', { Netns: `${prefix}-h2-c1` })
    await stopAll()
  })

  it('without CAP_SYS_ADMIN an attach fails (no network namespace can be made)', async () => {
    const caps = (await unitCapabilities()).filter(c => c !== 'CAP_SYS_ADMIN')
    const c1 = await start(0, caps, 'nosys')
    await c1.createNetwork({ Name: 'nosys', Subnet: '10.78.0.0/24' })
    await assert.rejects(c1.attach('nosys', { Netns: await createContainer(prefix, 'h1', 'c2'), Name: 'x' }), (err: Error) => {
      assert.match(err.message, /namespace|Operation not permitted|permission/i)
      return true
    })
    await stopAll()
  })
})
