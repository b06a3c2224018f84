/**
 * End to end on real namespaces: agents as processes in a netns lab, real NetworkDB over sockets,
 * real VXLAN, real pings. Root only (the CI machine is root); everything is torn down in `after`.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { ApiError } from '../../agent/api-client.js'
import type { NetworkInspect } from '../../agent/api-types.js'
import {
  LabAgents, pingMatrix, createContainer, createLab, destroyLab, type PingTarget, type Lab
} from '../../deploy/lab/index.js'
import { until } from './helpers.js'

const run = promisify(execFile)

const allOk = (m: Map<string, Map<string, boolean>>): boolean => [...m.values()].every(r => [...r.values()].every(Boolean))
const noneOk = (m: Map<string, Map<string, boolean>>, a: Set<string>, b: Set<string>): boolean =>
  [...m].every(([from, row]) => [...row].every(([to, ok]) => !ok || !((a.has(from) && b.has(to)) || (b.has(from) && a.has(to)))))

/** The MACs of the vxlan FDB and the IPs of the neighbour table of a sandbox. */
async function kernel (ns: string): Promise<{ fdb: string[], neigh: string[] }> {
  const first = (out: string): string[] => out.trim().split('\n').filter(l => l !== '').map(l => l.split(' ')[0]!)
  const fdb = first((await run('bridge', ['-n', ns, 'fdb', 'show', 'dev', 'vxlan0'])).stdout)
  const neigh = first((await run('ip', ['-n', ns, 'neigh', 'show', 'dev', 'vxlan0'])).stdout)
  return { fdb, neigh }
}

async function links (ns: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', ns, '-o', 'link', 'show'])
  return stdout.trim().split('\n').map(l => l.split(':')[1]!.trim().split('@')[0]!)
}

describe('agents end to end on a 4-host netns lab', function () {
  this.timeout(400_000)
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  const prefix = `e2e${randomBytes(2).toString('hex')}`

  before(async () => {
    lab = await createLab({ hosts: 4, prefix })
    agents = new LabAgents(lab)
    await agents.start()
    await agents.waitMembers(4)
  })

  after(async () => {
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix)
  })

  it('two networks: full matrix inside each, nothing across; same view everywhere; detach and rm rules', async () => {
    const a = agents!
    const c0 = a.client(0)
    await c0.createNetwork({ Name: 'red', Subnet: '10.20.0.0/24' })
    await a.client(1).createNetwork({ Name: 'blue', Subnet: '10.30.0.0/24' })
    // duplicate name (once the definition has reached the host), overlapping subnet: errors, nothing changed
    await until('red known on host 2', async () => (await a.client(2).listNetworks()).some(n => n.Name === 'red'))
    await assert.rejects(a.client(2).createNetwork({ Name: 'red', Subnet: '10.40.0.0/24' }), (e: unknown) => e instanceof ApiError && e.type === 'NetworkNameError')
    await assert.rejects(c0.createNetwork({ Name: 'green', Subnet: '10.20.0.128/25' }), (e: unknown) => e instanceof ApiError && /overlap/i.test(e.message))
    for (let i = 0; i < 4; i++) await until(`host ${i} knows both networks`, async () => (await a.client(i).listNetworks()).length === 2)

    const targets: Record<string, PingTarget[]> = { red: [], blue: [] }
    const macs = new Map<string, string>()
    for (let i = 0; i < 4; i++) {
      for (const net of ['red', 'blue']) {
        const ns = await createContainer(prefix, lab!.hosts[i]!.name, net)
        const ep = await a.client(i).attach(net, { Netns: ns, Name: `${net}-${i}` })
        targets[net]!.push({ name: `${net}-${i}`, ns, ip: ep.IPv4Address.split('/')[0]! })
        macs.set(`${net}-${i}`, ep.MacAddress)
      }
    }
    const all = [...targets.red!, ...targets.blue!]
    assert.equal(new Set(all.map(t => t.ip)).size, 8, 'distinct addresses')

    // every host lists the same Peers and Endpoints, all programmed
    const views = async (net: string): Promise<NetworkInspect[]> => await Promise.all([0, 1, 2, 3].map(async i => await a.client(i).inspectNetwork(net, true)))
    for (const net of ['red', 'blue']) {
      await until(`${net} endpoints programmed everywhere`, async () => (await views(net)).every(v => v.Endpoints?.length === 4 && v.Endpoints.every(e => e.Programmed)))
      const vs = await views(net)
      const norm = (v: NetworkInspect): string => JSON.stringify({ p: v.Peers!.map(p => [p.Name, p.IP]), e: v.Endpoints!.map(e => [e.EndpointID, e.EndpointIP, e.MacAddress, e.Node, e.Info['Host IP']]) })
      assert.equal(new Set(vs.map(norm)).size, 1, `${net}: identical Peers and Endpoints on every host`)
      assert.equal(vs[0]!.Peers!.length, 4)
      for (const v of vs) assert.equal(Object.keys(v.Containers).length, 1, 'Containers lists this host only')
    }

    let m = await pingMatrix(all, { timeoutS: 1 })
    for (let i = 0; i < 3 && !(allOk(new Map([...m].filter(([k]) => k.startsWith('red')).map(([k, r]) => [k, new Map([...r].filter(([t]) => t.startsWith('red')))]))) && allOk(new Map([...m].filter(([k]) => k.startsWith('blue')).map(([k, r]) => [k, new Map([...r].filter(([t]) => t.startsWith('blue')))])))); i++) m = await pingMatrix(all, { timeoutS: 1 })
    for (const [from, row] of m) {
      for (const [to, ok] of row) {
        const same = from.split('-')[0] === to.split('-')[0]
        assert.equal(ok, same, `${from} -> ${to} should ${same ? '' : 'NOT '}answer`)
      }
    }
    assert.ok(noneOk(m, new Set(targets.red!.map(t => t.name)), new Set(targets.blue!.map(t => t.name))))

    // rm with endpoints left -> ActiveEndpointsError, nothing changed
    await assert.rejects(a.client(3).removeNetwork('red'), (e: unknown) => e instanceof ApiError && e.type === 'ActiveEndpointsError')
    // detach of an unknown endpoint
    await assert.rejects(a.client(0).detach('red', { Netns: 'nope' }), (e: unknown) => e instanceof ApiError && e.type === 'ErrNoSuchEndpoint')

    // detach on host 1 -> gone everywhere
    const gone = targets.red![1]!
    const red = await a.client(0).inspectNetwork('red')
    const sandboxOf = (i: number): string => `ovnet-${lab!.hosts[i]!.ns}-${red.Id.slice(0, 12)}`
    for (const i of [0, 2, 3]) {
      const k = await kernel(sandboxOf(i))
      assert.ok(k.fdb.includes(macs.get(gone.name)!) && k.neigh.includes(gone.ip), `host ${i}'s kernel holds the endpoint before the detach`)
    }
    await a.client(1).detach('red', { Netns: gone.ns })
    for (let i = 0; i < 4; i++) await until(`host ${i} forgot the detached endpoint`, async () => !(await a.client(i).inspectNetwork('red', true)).Endpoints!.some(e => e.EndpointIP === gone.ip))
    for (const i of [0, 2, 3]) {
      await until(`host ${i}'s kernel dropped the FDB and neighbour entries`, async () => {
        const k = await kernel(sandboxOf(i))
        return !k.fdb.includes(macs.get(gone.name)!) && !k.neigh.includes(gone.ip)
      })
    }

    // detach the rest of red, then rm from a host that never created it -> gone everywhere
    for (const i of [0, 2, 3]) await a.client(i).detach('red', { Netns: targets.red![i]!.ns })
    await until('red endpoints gone', async () => (await a.client(3).inspectNetwork('red', true)).Endpoints!.length === 0)
    await a.client(3).removeNetwork('red')
    for (let i = 0; i < 4; i++) await until(`host ${i} no longer has red`, async () => !(await a.client(i).listNetworks()).some(n => n.Name === 'red'))
    // usage is published by each node; the releases arrive by gossip
    await until('red addresses released', async () => !(await a.client(0).ipamStatus()).Pools.some(p => p.Subnet === '10.20.0.0/24' && p.IPsInUse > 1))
  })

  it('an exhausted pool is a clear error; freeing an address makes room again', async () => {
    const a = agents!
    await a.client(0).createNetwork({ Name: 'tiny', Subnet: '10.60.0.0/30' })
    await until('tiny known on host 2', async () => (await a.client(2).listNetworks()).some(n => n.Name === 'tiny'))
    const n1 = await createContainer(prefix, lab!.hosts[2]!.name, 'tiny1')
    const n2 = await createContainer(prefix, lab!.hosts[3]!.name, 'tiny2')
    const ep = await a.client(2).attach('tiny', { Netns: n1 })
    assert.equal(ep.IPv4Address, '10.60.0.2/30', 'a /30 has one address besides the gateway')
    await assert.rejects(a.client(3).attach('tiny', { Netns: n2 }), (e: unknown) => e instanceof ApiError && e.message === 'no available addresses on this pool')
    await a.client(2).detach('tiny', { Netns: n1 })
    // the address is free again once the release is known to the other host (space is donated
    // by the owner that holds it)
    let again: { IPv4Address: string } | undefined
    await until('the freed address can be had on another host', async () => {
      again = await a.client(3).attach('tiny', { Netns: n2 })
      return true
    }, 15_000)
    assert.equal(again?.IPv4Address, '10.60.0.2/30')
    await a.client(3).detach('tiny', { Netns: n2 })
    await a.client(1).removeNetwork('tiny')
  })

  it('kill -9 an agent and restart it: connectivity comes back, no duplicate devices, no leak', async () => {
    const a = agents!
    const blue = await a.client(0).inspectNetwork('blue', true)
    const sandbox = `ovnet-${lab!.hosts[2]!.ns}-${blue.Id.slice(0, 12)}`
    const before = (await links(sandbox)).sort()
    const targets = blue.Endpoints!.map(e => ({ name: e.Name, ns: `${prefix}-${lab!.hosts[Number(e.Name.split('-')[1])]!.name}-blue`, ip: e.EndpointIP }))
    await a.kill(2)
    // its endpoint leaves the other views within the failure timeout
    await until('killed host purged', async () => (await a.client(0).inspectNetwork('blue', true)).Endpoints!.length === 3, 15_000)
    await a.restart(2)
    await a.waitMembers(4)
    await until('restarted host endpoint back everywhere', async () => {
      const vs = await Promise.all([0, 1, 2, 3].map(async i => await a.client(i).inspectNetwork('blue', true)))
      return vs.every(v => v.Endpoints!.length === 4 && v.Endpoints!.every(e => e.Programmed))
    }, 30_000)
    let m = await pingMatrix(targets, { timeoutS: 1 })
    for (let i = 0; i < 5 && !allOk(m); i++) { await new Promise(resolve => setTimeout(resolve, 1000)); m = await pingMatrix(targets, { timeoutS: 1 }) }
    assert.ok(allOk(m), 'full matrix after the restart')
    assert.deepEqual((await links(sandbox)).sort(), before, 'the same devices in the sandbox, none duplicated')
  })

  it('a graceful stop of the host that created a network: its endpoints go, the network stays', async () => {
    const a = agents!
    // blue was created on host 1
    await a.stop(1)
    for (const i of [0, 2, 3]) {
      await until(`host ${i} dropped host 1's endpoint`, async () => (await a.client(i).inspectNetwork('blue', true)).Endpoints!.length === 3, 15_000)
    }
    await new Promise(resolve => setTimeout(resolve, 2000))
    for (const i of [0, 2, 3]) assert.ok((await a.client(i).listNetworks()).some(n => n.Name === 'blue'), `host ${i} still has blue`)
    const members = await a.client(0).members()
    assert.equal(members.find(m => m.Name === lab!.hosts[1]!.ns)?.Status, 'left')
    // host 1 forgot its own copy when it left: coming back, it learns blue from whoever adopted it
    await a.restart(1)
    await until('host 1 learns blue again from the cluster', async () => (await a.client(1).listNetworks()).some(n => n.Name === 'blue'), 20_000)
  })
})
