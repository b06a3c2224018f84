/**
 * Kernel tests of the Linux dataplane and the driver on real namespaces (root only):
 * an underlay bridge in a namespace of its own, three "hosts" as namespaces on it, one overlay
 * network, two "containers" per host, FDB/neighbour entries fed straight into each driver's
 * eventNotify — then a real ping matrix, removal, hand-made corruption and repair, restart.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { PEER_TABLE } from '../../proto/index.js'
import { FakeClock } from '../../core/index.js'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'
import { OverlayDriver } from '../../overlay/driver.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import type { IPAMData } from '../../overlay/driverapi.js'
import { VXLANID_LIST } from '../../overlay/vni.js'
import { RecordingNetworkInfo } from './helpers.js'

const run = promisify(execFile)
const P = `ot${randomBytes(2).toString('hex')}` // unique per run: never collides with a leftover
const UNDERLAY = `${P}u`
const NID = `${randomBytes(8).toString('hex')}`
const VNI = 4000 + Math.floor(Math.random() * 1000)
const IPAM: IPAMData[] = [{ addressSpace: 'GlobalDefault', pool: '10.213.0.0/24', gateway: '10.213.0.1/24' }]

async function sh (...argv: string[]): Promise<string> {
  const [cmd, ...args] = argv
  const r = await run(cmd!, args)
  return r.stdout
}

async function shIn (input: string, ...argv: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), (err: Error | null) => { if (err !== null) reject(err); else resolve() })
    child.stdin!.end(input)
  })
}

/**
 * One echo that must come back: `reachable` gives ARP up to 2 s (a container whose neighbour
 * entry failed during a test re-resolves it); otherwise one probe with a 1 s wait.
 */
async function ping (fromNs: string, ip: string, reachable = true): Promise<boolean> {
  const opts = reachable ? ['-c1', '-w2', '-i0.2'] : ['-c1', '-W1']
  try {
    await run('ip', ['netns', 'exec', fromNs, 'ping', ...opts, '-q', ip])
    return true
  } catch {
    return false
  }
}

interface Container { ns: string, eid: string, ip: string, mac: string, join: EndpointJoinInfo }
interface Host { name: string, vtep: string, dp: LinuxDataplane, driver: OverlayDriver, containers: Container[], sandbox: string }

async function cleanup (): Promise<void> {
  const list = JSON.parse((await sh('ip', '-json', 'netns', 'list')) || '[]') as Array<{ name: string }>
  for (const { name } of list) {
    if (!name.startsWith(P) && !name.startsWith(`ovnet-${P}`)) continue
    await run('ip', ['netns', 'del', name]).catch(() => {})
  }
}

function makeDriver (h: { name: string, vtep: string, dp: LinuxDataplane }): OverlayDriver {
  return new OverlayDriver({ dataplane: h.dp, nodeName: h.name, vtep: h.vtep, clock: new FakeClock(), reconcileIntervalMs: 0 })
}

describe('overlay Linux dataplane on real namespaces', function () {
  this.timeout(120_000)
  const hosts: Host[] = []

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    await cleanup()
    await sh('ip', 'netns', 'add', UNDERLAY)
    await sh('ip', '-n', UNDERLAY, 'link', 'add', 'ul', 'type', 'bridge')
    await sh('ip', '-n', UNDERLAY, 'link', 'set', 'ul', 'up')
    for (let i = 1; i <= 3; i++) {
      const name = `${P}h${i}`
      const vtep = `198.51.100.${i}`
      await sh('ip', 'netns', 'add', name)
      await sh('ip', '-n', UNDERLAY, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name)
      await sh('ip', '-n', UNDERLAY, 'link', 'set', `p${i}`, 'master', 'ul', 'up')
      await sh('ip', '-n', name, 'addr', 'add', `${vtep}/24`, 'dev', 'eth0')
      await sh('ip', '-n', name, 'link', 'set', 'eth0', 'up')
      await sh('ip', '-n', name, 'link', 'set', 'lo', 'up')
      const dp = new LinuxDataplane({ hostNetns: name })
      hosts.push({ name, vtep, dp, driver: makeDriver({ name, vtep, dp }), containers: [], sandbox: `ovnet-${name}-${NID.slice(0, 12)}` })
    }
    for (const [i, h] of hosts.entries()) {
      await h.driver.createNetwork(NID, { [VXLANID_LIST]: String(VNI) }, new RecordingNetworkInfo(), IPAM, [])
      for (const [k, suffix] of ['a', 'b'].entries()) {
        const ns = `${P}c${i + 1}${suffix}`
        await sh('ip', 'netns', 'add', ns)
        const ip = `10.213.0.${10 * (i + 1) + k}`
        const ifi = new EndpointInterface({ address: `${ip}/24` })
        const eid = `${randomBytes(16).toString('hex')}`
        await h.driver.createEndpoint(NID, eid, ifi, {})
        const join = new EndpointJoinInfo()
        await h.driver.join(NID, eid, ns, join, {}, {})
        h.containers.push({ ns, eid, ip, mac: ifi.macAddress()!, join })
      }
    }
    // What NetworkDB would deliver: every published peer entry to every driver (own ones ignored).
    for (const h of hosts) for (const src of hosts) for (const c of src.containers) announce(h, c)
    for (const h of hosts) await h.driver.flush()
  })

  after(async function () {
    this.timeout(60_000)
    for (const h of hosts) await h.driver.stop().catch(() => {})
    await cleanup()
  })

  function announce (h: Host, c: Container): void {
    h.driver.eventNotify(NID, PEER_TABLE, c.eid, undefined, c.join.tableEntries[0]!.value)
  }
  function withdraw (h: Host, c: Container): void {
    h.driver.eventNotify(NID, PEER_TABLE, c.eid, undefined, undefined)
  }
  const all = (): Container[] => hosts.flatMap(h => h.containers)

  async function failedPings (): Promise<string[]> {
    const out: string[] = []
    for (const a of all()) {
      for (const b of all()) {
        if (a !== b && !(await ping(a.ns, b.ip))) out.push(`${a.ns}->${b.ns}`)
      }
    }
    return out
  }

  it('builds the sandbox as specified: vxlan in the sandbox, its UDP socket in the host namespace', async () => {
    const h = hosts[0]!
    const links = JSON.parse(await sh('ip', '-n', h.sandbox, '-d', '-json', 'link', 'show')) as Array<{ ifname: string, mtu: number, master?: string, linkinfo?: { info_kind: string, info_data?: Record<string, unknown> } }>
    const vx = links.find(l => l.ifname === 'vxlan0')!
    assert.equal(vx.linkinfo!.info_kind, 'vxlan')
    assert.equal(vx.linkinfo!.info_data!.id, VNI)
    assert.equal(vx.linkinfo!.info_data!.local, h.vtep)
    assert.equal(vx.linkinfo!.info_data!.port, 4789)
    assert.equal(vx.linkinfo!.info_data!.learning, false)
    assert.equal(vx.mtu, 1450)
    assert.equal(vx.master, 'br0')
    assert.equal(links.filter(l => l.ifname.startsWith('ve-')).length, 2)
    assert.match(await sh('ip', '-n', h.sandbox, 'addr', 'show', 'dev', 'br0'), /inet 10\.213\.0\.1\/24/)
    assert.match(await sh('ip', 'netns', 'exec', h.name, 'ss', '-uln'), /:4789\b/)
    assert.doesNotMatch(await sh('ip', 'netns', 'exec', h.sandbox, 'ss', '-uln'), /:4789\b/)
    assert.doesNotMatch(await sh('ip', '-n', h.name, 'link', 'show', 'type', 'vxlan'), /vx-/, 'nothing left in the host namespace')
    const c = h.containers[0]!
    const ctr = await sh('ip', '-n', c.ns, 'addr', 'show', 'dev', 'eth0')
    assert.match(ctr, new RegExp(`link/ether ${c.mac}`))
    assert.match(ctr, new RegExp(`inet ${c.ip.replace(/\./g, '\\.')}/24`))
    assert.match(ctr, /mtu 1450/)
    assert.match(await sh('ip', '-n', c.ns, 'route', 'show', 'default'), /default via 10\.213\.0\.1 dev eth0/)
    assert.equal(await h.dp.underlayMtu(h.vtep), 1500)
  })

  it('the bridge keeps its MAC when a port with a lower MAC joins (containers\' ARP for the gateway stays valid)', async () => {
    const h = hosts[0]!
    const macOf = async (): Promise<string> => /link\/ether (\S+)/.exec(await sh('ip', '-n', h.sandbox, 'link', 'show', 'br0'))![1]!
    const before = await macOf()
    await sh('ip', '-n', h.sandbox, 'link', 'add', 'ovtlow0', 'address', '02:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'ovtlow1')
    try {
      await sh('ip', '-n', h.sandbox, 'link', 'set', 'ovtlow0', 'master', 'br0', 'up')
      assert.equal(await macOf(), before)
    } finally {
      await sh('ip', '-n', h.sandbox, 'link', 'del', 'ovtlow0')
    }
  })

  it('every container reaches every other (full ping matrix)', async () => {
    assert.deepEqual(await failedPings(), [])
  })

  it('holds exactly the remote entries, permanent', async () => {
    const h = hosts[1]!
    const t = await h.dp.readTables(h.sandbox)
    const remote = all().filter(c => !h.containers.includes(c))
    assert.deepEqual(t.fdb.map(e => [e.mac, e.dst, e.permanent]).sort(),
      remote.map(c => [c.mac, hosts.find(x => x.containers.includes(c))!.vtep, true]).sort())
    assert.deepEqual(t.neigh.map(e => [e.ip, e.mac, e.permanent]).sort(), remote.map(c => [c.ip, c.mac, true]).sort())
  })

  it("a withdrawn endpoint's entries go and it becomes unreachable; re-announced it is back", async () => {
    const gone = hosts[0]!.containers[1]!
    for (const h of hosts) withdraw(h, gone)
    for (const h of hosts) await h.driver.flush()
    const t = await hosts[1]!.dp.readTables(hosts[1]!.sandbox)
    assert.ok(!t.fdb.some(e => e.mac === gone.mac) && !t.neigh.some(e => e.ip === gone.ip))
    assert.equal(await ping(hosts[1]!.containers[0]!.ns, gone.ip, false), false)
    assert.equal(await ping(hosts[0]!.containers[0]!.ns, gone.ip), true, 'same host: over the bridge')
    for (const h of hosts) announce(h, gone)
    for (const h of hosts) await h.driver.flush()
    assert.equal(await ping(hosts[1]!.containers[0]!.ns, gone.ip), true)
  })

  it('repairs a hand-corrupted FDB/neighbour table (deleted, wrong dst, stale extra, learnt dynamic)', async () => {
    const h = hosts[1]!
    const [x, y, z] = [hosts[0]!.containers[0]!, hosts[0]!.containers[1]!, hosts[2]!.containers[0]!]
    const fdb = [
      `fdb del ${x.mac} dev vxlan0 self`,
      `fdb replace ${y.mac} dev vxlan0 dst 198.51.100.99 self permanent`,
      'fdb add 02:42:0a:d5:00:63 dev vxlan0 dst 198.51.100.3 self permanent',
      `fdb replace ${z.mac} dev vxlan0 dst 198.51.100.3 self dynamic`
    ].join('\n') + '\n'
    await shIn(fdb, 'bridge', '-n', h.sandbox, '-batch', '-')
    await sh('ip', '-n', h.sandbox, 'neigh', 'del', x.ip, 'dev', 'vxlan0')
    const from = h.containers[0]!.ns
    await sh('ip', '-n', from, 'neigh', 'flush', 'all')
    assert.equal(await ping(from, x.ip, false), false, 'deleted entry breaks reachability')
    assert.equal(await ping(from, y.ip, false), false, 'wrong destination breaks reachability')

    const [report] = await h.driver.reconcile()
    assert.deepEqual({ missing: report!.missing, wrong: report!.wrong, learned: report!.learned, stale: report!.stale },
      { missing: 2, wrong: 1, learned: 1, stale: 1 })
    const t = await h.dp.readTables(h.sandbox)
    assert.ok(t.fdb.every(e => e.permanent) && t.neigh.every(e => e.permanent))
    assert.equal(t.fdb.length, 4)
    assert.equal(t.neigh.length, 4)
    assert.deepEqual(await failedPings(), [])
  })

  it('dataplane operations are idempotent; deleting what is absent is fine', async () => {
    const h = hosts[2]!
    const spec = { name: h.sandbox, vni: VNI, vtep: h.vtep, dstPort: 4789, mtu: 1450, gateway: '10.213.0.1/24' }
    const before = await sh('ip', '-n', h.sandbox, '-o', 'link', 'show', 'vxlan0')
    await h.dp.ensureSandbox(spec)
    assert.equal(await sh('ip', '-n', h.sandbox, '-o', 'link', 'show', 'vxlan0'), before, 'the same device kept')
    // `ip neigh` aborts a batch on a failed delete: the adapter must still apply the rest.
    await h.dp.apply(h.sandbox, [
      { op: 'del', kind: 'neigh', ip: '10.213.0.250' },
      { op: 'del', kind: 'fdb', mac: '02:42:0a:d5:00:fa' },
      { op: 'add', kind: 'neigh', ip: '10.213.0.252', mac: '02:42:0a:d5:00:fc' },
      { op: 'del', kind: 'neigh', ip: '10.213.0.251' },
      { op: 'add', kind: 'fdb', mac: '02:42:0a:d5:00:fc', dst: '198.51.100.2' }
    ])
    const t = await h.dp.readTables(h.sandbox)
    assert.ok(t.neigh.some(e => e.ip === '10.213.0.252' && e.mac === '02:42:0a:d5:00:fc' && e.permanent))
    assert.ok(t.fdb.some(e => e.mac === '02:42:0a:d5:00:fc' && e.dst === '198.51.100.2' && e.permanent))
    await h.dp.apply(h.sandbox, [{ op: 'del', kind: 'neigh', ip: '10.213.0.252' }, { op: 'del', kind: 'fdb', mac: '02:42:0a:d5:00:fc' }])
    assert.deepEqual((await h.dp.readTables(h.sandbox)).neigh.length, t.neigh.length - 1)
    await h.dp.removeEndpoint(h.sandbox, 'nonexistent-endpoint')
    await h.dp.removeSandbox(`ovnet-${P}-none`)
    await assert.rejects(h.dp.apply(`ovnet-${P}-none`, [{ op: 'add', kind: 'fdb', mac: '02:42:0a:d5:00:fa', dst: '198.51.100.1' }]), /does not exist/)
    await assert.rejects(h.dp.apply(h.sandbox, [{ op: 'add', kind: 'fdb', mac: '02:42:0a:d5:00:fa\nfdb flush', dst: '198.51.100.1' }]), /invalid MAC/)
    const listed = await h.dp.listSandboxes(`ovnet-${h.name}-`)
    assert.deepEqual(listed.map(s => [s.name, s.owner, s.vni, s.vtep, s.dstPort, s.bridgeAddrs]), [[h.sandbox, `ovnet:${h.name}:${NID}`, VNI, h.vtep, 4789, ['10.213.0.1/24']]])
    assert.equal(listed[0]!.endpoints.length, 2)
    assert.deepEqual(await failedPings(), [])
  })

  it('reconcile rebuilds a vxlan device deleted by hand and reprograms it', async () => {
    const h = hosts[2]!
    await sh('ip', '-n', h.sandbox, 'link', 'del', 'vxlan0')
    assert.equal(await ping(h.containers[0]!.ns, hosts[0]!.containers[0]!.ip, false), false)
    const [report] = await h.driver.reconcile()
    assert.equal(report!.missing, 8)
    assert.deepEqual(await failedPings(), [])
  })

  it('after a crash (kill -9) a new driver adopts the sandbox: connectivity back, no duplicate devices', async () => {
    const h = hosts[0]!
    await h.driver.stop({ keepDataplane: true })
    await sh('bridge', '-n', h.sandbox, 'fdb', 'del', hosts[1]!.containers[0]!.mac, 'dev', 'vxlan0', 'self') // drift while down
    h.driver = makeDriver(h)
    await h.driver.start()
    assert.deepEqual(h.driver.status().unclaimedSandboxes, [h.sandbox])
    await h.driver.createNetwork(NID, { [VXLANID_LIST]: String(VNI) }, new RecordingNetworkInfo(), IPAM, [])
    for (const src of hosts) for (const c of src.containers) announce(h, c)
    for (const c of h.containers) {
      await h.driver.createEndpoint(NID, c.eid, new EndpointInterface({ address: `${c.ip}/24`, mac: c.mac }), {})
      await h.driver.join(NID, c.eid, c.ns, new EndpointJoinInfo(), {}, {})
    }
    await h.driver.restoreComplete()
    assert.equal(h.driver.status().networks[0]!.origin, 'adopted')
    const links = JSON.parse(await sh('ip', '-n', h.sandbox, '-json', 'link', 'show')) as Array<{ ifname: string }>
    assert.deepEqual(links.map(l => l.ifname).filter(n => n !== 'lo').sort(), ['br0', ...h.containers.map(c => `ve-${c.eid.slice(0, 12)}`)].concat('vxlan0').sort())
    assert.deepEqual(await failedPings(), [])
  })

  it('the last leave removes the sandbox; a graceful stop removes everything', async () => {
    const h = hosts[2]!
    for (const c of h.containers) await h.driver.leave(NID, c.eid)
    const names = (JSON.parse(await sh('ip', '-json', 'netns', 'list')) as Array<{ name: string }>).map(n => n.name)
    assert.ok(!names.includes(h.sandbox))
    assert.equal((await sh('ip', '-n', h.containers[0]!.ns, '-o', 'link', 'show')).includes('eth0'), false)
    for (const x of hosts) await x.driver.stop()
    const left = (JSON.parse(await sh('ip', '-json', 'netns', 'list')) as Array<{ name: string }>).map(n => n.name)
    assert.deepEqual(left.filter(n => n.startsWith(`ovnet-${P}`)), [])
    for (const x of hosts) assert.doesNotMatch(await sh('ip', '-n', x.name, 'link', 'show', 'type', 'vxlan'), /vx/)
  })
})
