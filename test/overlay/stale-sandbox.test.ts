/**
 * One stale or foreign sandbox never stops the overlay driver, hence the agent (issue 16 item 1):
 * a restarted agent found /run/netns/ovnet-h3-… without its bind mount (its previous run was
 * killed in a private mount namespace), `ip -n` failed with EINVAL, and the agent did not start.
 * Real namespaces (root): a stale file, a bind mount of a namespace of another kind, a directory,
 * a sandbox with unexpected devices, another node's sandbox under our prefix.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rmdir, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { FakeClock, memoryLogger } from '../../core/index.js'
import { DataplaneError } from '../../overlay/dataplane.js'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'
import { OverlayDriver } from '../../overlay/driver.js'
import { sh, underlayHost } from './helpers.js'

const run = promisify(execFile)
const P = `os${randomBytes(2).toString('hex')}`
const HOST = `${P}h`
const CTR = `${P}c`
const NODE = `${P}n`
const VTEP = '192.0.2.77'
const VNI = 5000 + Math.floor(Math.random() * 1000)
const sandbox = (id: string): string => `ovnet-${NODE}-${id}`
const id = (): string => randomBytes(6).toString('hex')
const file = (name: string): string => `/run/netns/${name}`

const links = async (ns: string): Promise<Array<{ ifname: string, linkinfo?: { info_kind?: string } }>> =>
  JSON.parse((await sh('ip', '-n', ns, '-d', '-json', 'link', 'show')) || '[]') as Array<{ ifname: string, linkinfo?: { info_kind?: string } }>
const kinds = async (ns: string): Promise<string[]> => (await links(ns)).map(l => `${l.ifname}:${l.linkinfo?.info_kind ?? ''}`).sort()

async function cleanup (): Promise<void> {
  const names = (await sh('ls', '/run/netns')).split('\n').filter(n => n.startsWith(P) || n.startsWith(`ovnet-${P}`))
  for (const n of names) {
    await run('umount', [file(n)]).catch(() => {})
    await run('ip', ['netns', 'del', n]).catch(() => {})
    await rmdir(file(n)).catch(() => {})
  }
}

describe('stale and foreign sandboxes never stop the overlay driver (real namespaces)', function () {
  this.timeout(60_000)
  let dp: LinuxDataplane
  const log = memoryLogger()

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    await cleanup()
    await underlayHost(HOST, VTEP)
    await sh('ip', 'netns', 'add', CTR)
    dp = new LinuxDataplane({ hostNetns: HOST, logger: log })
  })
  after(async () => { await cleanup() })

  const spec = (name: string, vni = VNI): Parameters<LinuxDataplane['ensureSandbox']>[0] =>
    ({ name, vni, vtep: VTEP, dstPort: 4789, mtu: 1450, gateway: '10.99.0.1/24', owner: `ovnet:${NODE}:${name}` })

  it('start() lists, logs and removes stale and foreign files, adopts a sandbox with unexpected devices, and leaves another node\'s alone', async () => {
    // a stale file: what `ip netns add` leaves when its bind mount is gone
    const stale = sandbox(id())
    await writeFile(file(stale), '')
    // a file that is a namespace of another kind (UTS), bind-mounted under our name
    const uts = sandbox(id())
    await writeFile(file(uts), '')
    await sh('mount', '--bind', '/proc/self/ns/uts', file(uts))
    // a directory
    const dir = sandbox(id())
    await mkdir(file(dir))
    // a real sandbox of a previous run with unexpected devices: "br0" that is no bridge, a stray
    // bridge, a vxlan0 that is no vxlan; and one real endpoint veth (its peer in a container)
    const odd = sandbox(id())
    await sh('ip', 'netns', 'add', odd)
    await sh('ip', '-n', odd, 'link', 'add', 'br0', 'type', 'veth', 'peer', 'name', 'vc-br0', 'netns', CTR)
    await sh('ip', '-n', odd, 'link', 'add', 'junk0', 'type', 'bridge')
    await sh('ip', '-n', odd, 'link', 'add', 'vxlan0', 'type', 'bridge')
    await sh('ip', '-n', odd, 'link', 'add', 've-keep', 'type', 'veth', 'peer', 'name', 'vc-keep', 'netns', CTR)
    // the agent's egress uplink (its host side in the container namespace here): kept
    await sh('ip', '-n', odd, 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'vu-keep', 'netns', CTR)
    // another node whose name shares our prefix ("<node>-2"), tagged as its own
    const foreign = `ovnet-${NODE}-2-${id()}`
    await sh('ip', 'netns', 'add', foreign)
    await sh('ip', '-n', foreign, 'link', 'add', 'br0', 'type', 'bridge')
    await sh('ip', '-n', foreign, 'link', 'set', 'br0', 'alias', `ovnet:${NODE}-2:x`)

    const listed = await dp.listSandboxes(`ovnet-${NODE}-`)
    assert.deepEqual(listed.filter(s => s.unusable !== undefined).map(s => s.name).sort(), [stale, uts, dir].sort())
    assert.ok(listed.some(s => s.name === odd && s.unusable === undefined))

    const driver = new OverlayDriver({ dataplane: dp, nodeName: NODE, vtep: VTEP, clock: new FakeClock(), reconcileIntervalMs: 0, logger: log })
    await driver.start() // threw "setting the network namespace ... failed: Invalid argument" before
    for (const n of [stale, uts, dir]) assert.equal(existsSync(file(n)), false, `${n} removed`)
    assert.ok(log.lines.some(l => l.level === 'warn' && /no network namespace: removing it/.test(l.msg ?? '')), 'logged')
    assert.equal(existsSync(file(odd)), true, 'the usable sandbox is kept for adoption')
    assert.equal(existsSync(file(foreign)), true, 'another node\'s sandbox is not touched')
    await driver.stop({ keepDataplane: true })

    // adopting the odd sandbox brings it to spec: strays gone, the endpoint veth and the uplink kept
    await dp.ensureSandbox(spec(odd))
    assert.deepEqual(await kinds(odd), ['br0:bridge', 'lo:', 'uplink0:veth', 've-keep:veth', 'vxlan0:vxlan'])
    assert.ok(log.lines.some(l => /unexpected devices/.test(l.msg ?? '')))
    await dp.removeSandbox(odd)
    assert.equal(existsSync(file(odd)), false)
  })

  it('ensureSandbox re-creates a namespace in place of a stale or foreign file', async () => {
    for (const make of ['stale', 'uts', 'dir'] as const) {
      const name = sandbox(id())
      if (make === 'dir') await mkdir(file(name))
      else await writeFile(file(name), '')
      if (make === 'uts') await sh('mount', '--bind', '/proc/self/ns/uts', file(name))
      await dp.ensureSandbox(spec(name, VNI + 1))
      assert.deepEqual(await kinds(name), ['br0:bridge', 'lo:', 'vxlan0:vxlan'], make)
      await dp.removeSandbox(name)
      assert.equal(existsSync(file(name)), false)
    }
  })

  it('a vxlan device left in the host namespace by a crash (holding the VNI) is removed and the sandbox made', async () => {
    // What a crash between creating the vxlan device and moving it into the sandbox leaves.
    const vni = VNI + 7
    const stray = `vx-${vni.toString(16).padStart(6, '0')}-dead`
    await sh('ip', '-n', HOST, 'link', 'add', stray, 'type', 'vxlan', 'id', String(vni), 'local', VTEP, 'dstport', '4789',
      'nolearning', 'proxy')
    const name = sandbox(id())
    await dp.ensureSandbox(spec(name, vni))
    assert.deepEqual((await kinds(name)).filter(k => k.startsWith('vxlan0')), ['vxlan0:vxlan'])
    assert.equal((await links(HOST)).some(l => l.ifname === stray), false, 'the stray is gone')
    await dp.removeSandbox(name)
  })

  it('removeSandbox removes a stale file; an endpoint in a stale container namespace fails with a clear error, nothing left behind', async () => {
    const name = sandbox(id())
    await writeFile(file(name), '')
    await dp.removeSandbox(name)
    assert.equal(existsSync(file(name)), false)

    const sb = sandbox(id())
    await dp.ensureSandbox(spec(sb, VNI + 2))
    const ctr = `${P}stale`
    await writeFile(file(ctr), '')
    await assert.rejects(dp.addEndpoint({ sandbox: sb, eid: 'e'.repeat(64), containerNetns: ctr, ifName: 'eth0', mac: '02:42:0a:63:00:02', address: '10.99.0.2/24', mtu: 1450 }),
      (e: unknown) => e instanceof DataplaneError && /not a network namespace|does not exist|endpoint setup .* failed/.test(e.message))
    assert.deepEqual(await kinds(sb), ['br0:bridge', 'lo:', 'vxlan0:vxlan'])
    await dp.removeSandbox(sb)
  })
})
