/**
 * A real Docker on ovnet (root only): a 2-host netns lab, one `ovnet agent --docker-plugin` and
 * one dockerd per host (see lab-dockerd.ts), a busybox image imported into each. The network is
 * created on both hosts with the ovnet network and IPAM drivers, one container runs on each, and
 * they ping each other across the VXLAN overlay; removing a container gives its address back.
 * Everything (containers, dockerds, agents, namespaces, mounts) goes in the after hook, pass or fail.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { NetworkInspect } from '../../agent/api-types.js'
import { LabAgents, exec, createLab, destroyLab, type Lab, type LabHost } from '../../deploy/lab/index.js'
import { ovnet, until } from '../agent/helpers.js'
import { busyboxImageTar, LabDockerd } from './lab-dockerd.js'

const NET = 'dnet'
const SUBNET = '10.123.0.0/24'
const IMAGE = 'ovnet-busybox:test'

async function links (ns: string): Promise<string[]> {
  const r = await exec('ip', ['-n', ns, '-json', 'link', 'show'])
  return (JSON.parse(r.stdout || '[]') as Array<{ ifname: string }>).map(l => l.ifname)
}

describe('docker plugin: a real dockerd per host on a 2-host netns lab', function () {
  this.timeout(240_000)
  const prefix = `dk${randomBytes(3).toString('hex')}`
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  const dockerds: LabDockerd[] = []
  const pluginDir = (h: LabHost): string => join(lab!.stateDir, h.name, 'plugins')
  const docker = (i: number): LabDockerd => dockerds[i]!
  const containers: Array<{ name: string, ip: string, eid: string }> = []

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    const started = Date.now()
    lab = await createLab({ hosts: 2, prefix })
    agents = new LabAgents(lab, { extraArgs: h => ['--docker-plugin', join(pluginDir(h), 'ovnet.sock')] })
    await agents.start()
    await agents.waitMembers(2)
    for (const h of lab.hosts) dockerds.push(new LabDockerd(h, join(lab.stateDir, h.name, 'docker'), pluginDir(h)))
    await Promise.all(dockerds.map(async d => { await d.start() }))
    const tar = await busyboxImageTar(lab.stateDir)
    await Promise.all(dockerds.map(async d => { await d.ok(['import', tar, IMAGE]) }))
    console.log(`      (lab, 2 agents, 2 dockerds, image: ${Date.now() - started} ms)`)
  })

  let failed = false
  afterEach(function () { if (this.currentTest?.state === 'failed') failed = true })

  after(async () => {
    if (failed) {
      // The lab's logs go with it: show what the agents and daemons complained about first.
      for (const a of agents?.agents ?? []) {
        const lines = (await readFile(a.log, 'utf8').catch(() => '')).split('\n').filter(l => /"level":(40|50|60)/.test(l))
        console.log(`--- agent ${a.host.name} warnings and errors (${lines.length}):\n${lines.slice(-20).join('\n')}`)
      }
      for (const d of dockerds) console.log(`--- dockerd ${d.host.name}:\n${await d.tail(10)}`)
    }
    for (const d of dockerds) await d.stop()
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix)
  })

  it('the network created on both hosts is one ovnet cluster network; docker network inspect shows ovnet', async () => {
    const create = ['network', 'create', '-d', 'ovnet', '--ipam-driver', 'ovnet', '-o', `ovnet.network=${NET}`, '--ipam-opt', `ovnet.network=${NET}`, '--subnet', SUBNET, NET]
    const t0 = Date.now()
    await docker(0).ok(create)
    console.log(`      (docker network create: ${Date.now() - t0} ms)`)
    // Host 2 learns the definition by gossip; the plugin would also wait for it a few seconds.
    await until('host 2 knows the network', async () => (await agents!.client(1).listNetworks()).some(n => n.Name === NET))
    await docker(1).ok(create)
    for (const i of [0, 1]) {
      const [inspect] = JSON.parse(await docker(i).ok(['network', 'inspect', NET])) as Array<{ Driver: string, Scope: string, IPAM: { Driver: string, Config: Array<{ Subnet: string, Gateway: string }> } }>
      assert.equal(inspect!.Driver, 'ovnet')
      assert.equal(inspect!.Scope, 'local')
      assert.equal(inspect!.IPAM.Driver, 'ovnet')
      assert.deepEqual(inspect!.IPAM.Config.map(c => c.Subnet), [SUBNET])
      const ours = (await agents!.client(i).listNetworks()).filter(n => n.Name === NET)
      assert.equal(ours.length, 1)
      assert.deepEqual(ours[0]!.Subnets, [SUBNET])
    }
  })

  it('one container per host: distinct addresses, the handed-off eth0, pings both ways across the overlay', async () => {
    for (const i of [0, 1]) {
      const name = `c${i + 1}`
      const t0 = Date.now()
      await docker(i).run(['--name', name, '--network', NET, IMAGE, 'sleep', '600'])
      console.log(`      (docker run on host ${i + 1}: ${Date.now() - t0} ms)`)
      const [ip, eid, mac] = (await docker(i).ok(['inspect', '--format', `{{with index .NetworkSettings.Networks "${NET}"}}{{.IPAddress}} {{.EndpointID}} {{.MacAddress}}{{end}}`, name])).split(' ')
      containers.push({ name, ip: ip!, eid: eid! })
      // Docker moved and renamed the interface the agent left it, with the endpoint's MAC and the overlay MTU.
      const eth0 = await docker(i).ok(['exec', name, 'ip', '-o', 'link', 'show', 'eth0'])
      assert.match(eth0, /mtu 1450/)
      assert.ok(eth0.includes(mac!), `${eth0} has ${mac}`)
      assert.match(await docker(i).ok(['exec', name, 'ip', '-o', '-4', 'addr', 'show', 'eth0']), new RegExp(`inet ${ip!.replace(/\./g, '\\.')}/24`))
      assert.match(await docker(i).ok(['exec', name, 'ip', 'route']), /default via 10\.123\.0\.1 dev eth0/, 'the network\'s gateway from Join')
      assert.equal((await links(lab!.hosts[i]!.ns)).filter(l => l.startsWith('dk-')).length, 0, 'nothing left behind in the host namespace')
    }
    assert.notEqual(containers[0]!.ip, containers[1]!.ip)
    assert.ok(containers.every(c => c.ip.startsWith('10.123.0.') && c.ip !== '10.123.0.1'))

    // every host lists both containers, published like `ovnet attach` endpoints, and programmed
    const views = async (): Promise<NetworkInspect[]> => await Promise.all([0, 1].map(async i => await agents!.client(i).inspectNetwork(NET, true)))
    await until('both endpoints programmed on both hosts', async () => (await views()).every(v => v.Endpoints?.length === 2 && v.Endpoints.every(e => e.Programmed)))
    for (const v of await views()) {
      assert.deepEqual(v.Endpoints!.map(e => [e.EndpointID, e.EndpointIP, e.Node]).sort(), [
        [containers[0]!.eid, containers[0]!.ip, lab!.hosts[0]!.ns],
        [containers[1]!.eid, containers[1]!.ip, lab!.hosts[1]!.ns]
      ].sort())
    }

    const t0 = Date.now()
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      await until(`c${from + 1} pings c${to + 1}`, async () =>
        (await docker(from).cli(['exec', containers[from]!.name, 'ping', '-c', '1', '-W', '1', containers[to]!.ip])).code === 0, 15_000)
    }
    console.log(`      (first pings both ways: ${Date.now() - t0} ms)`)
    const r = await docker(0).ok(['exec', 'c1', 'ping', '-c', '3', '-i', '0.2', '-W', '1', containers[1]!.ip])
    assert.match(r, /3 packets transmitted, 3 packets received/)
  })

  it('removing a container releases its address (ovnet ipam status) and its endpoint everywhere', async () => {
    const inUse = async (i: number): Promise<number> => (await agents!.client(i).ipamStatus()).Pools.find(p => p.Subnet === SUBNET)?.IPsInUse ?? -1
    await until('gateway + 2 containers in use, seen from both hosts', async () => (await inUse(0)) === 3 && (await inUse(1)) === 3)
    await docker(1).ok(['rm', '-f', 'c2'])
    await until('the address is released everywhere', async () => (await inUse(0)) === 2 && (await inUse(1)) === 2)
    await until('the endpoint is gone everywhere', async () =>
      (await Promise.all([0, 1].map(async i => (await agents!.client(i).inspectNetwork(NET, true)).Endpoints!.length))).every(n => n === 1))
    assert.equal((await links(lab!.hosts[1]!.ns)).filter(l => l.startsWith('dk-')).length, 0)
    // as the operator sees it
    const status = await ovnet(['ipam', 'status', '--json'], { socket: agents!.agents[0]!.socket })
    assert.equal(status.code, 0, status.stderr)
    const pool = (JSON.parse(status.stdout) as { Pools: Array<{ Network: string, Subnet: string, IPsInUse: number }> }).Pools.find(p => p.Subnet === SUBNET)
    assert.deepEqual([pool?.Network, pool?.IPsInUse], [NET, 2])
    // the next container on host 2 is reachable again
    await docker(1).run(['--name', 'c4', '--network', NET, IMAGE, 'sleep', '600'])
    const ip = await docker(1).ok(['inspect', '--format', `{{with index .NetworkSettings.Networks "${NET}"}}{{.IPAddress}}{{end}}`, 'c4'])
    containers[1] = { name: 'c4', ip, eid: '' }
    await until('c1 pings c4', async () => (await docker(0).cli(['exec', 'c1', 'ping', '-c', '1', '-W', '1', ip])).code === 0, 15_000)
  })

  it('an agent killed (-9) and restarted keeps its containers connected (the handed-off veth is adopted)', async () => {
    const eth0 = async (): Promise<string> => await docker(0).ok(['exec', 'c1', 'ip', '-o', 'link', 'show', 'eth0'])
    const before = (await eth0()).split(':')[0]
    await agents!.kill(0)
    const t0 = Date.now()
    await agents!.restart(0)
    await agents!.waitMembers(2)
    assert.equal((await eth0()).split(':')[0], before, 'c1 kept the same interface')
    for (const [from, to] of [[0, 1], [1, 0]] as const) {
      await until(`${containers[from]!.name} pings ${containers[to]!.name} after the restart`, async () =>
        (await docker(from).cli(['exec', containers[from]!.name, 'ping', '-c', '1', '-W', '1', containers[to]!.ip])).code === 0, 20_000)
    }
    console.log(`      (restart to pings both ways: ${Date.now() - t0} ms)`)
    assert.equal((await links(lab!.hosts[0]!.ns)).filter(l => l.startsWith('dk-')).length, 0, 'no second pair')
  })

  it('docker network rm on one host leaves the cluster network to the others', async () => {
    await docker(1).ok(['rm', '-f', 'c4'])
    await docker(1).ok(['network', 'rm', NET])
    assert.deepEqual(JSON.parse(await docker(1).ok(['network', 'ls', '--filter', `name=${NET}`, '--format', '{{json .Name}}']) || 'null'), null)
    assert.ok((await agents!.client(1).listNetworks()).some(n => n.Name === NET))
    assert.match(await docker(0).ok(['exec', 'c1', 'ip', '-o', 'link', 'show', 'eth0']), /UP/)
  })
})
