/**
 * ovnet-cni with real agents on a 2-host netns lab: first the plugin run by hand as a runtime
 * runs it (ADD, CHECK, agent kill -9, GC, DEL), then Debian's podman with its CNI backend
 * (containers.conf network_backend = "cni", a test-owned conflist): a container per host gets a
 * cluster address, the two ping each other over VXLAN, names show in `inspect --verbose` on both
 * hosts, and `podman rm` gives the addresses back. Root only; everything is removed in `after`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { busyboxImageTar } from '../docker-plugin/lab-dockerd.js'
import { LabAgents, exec, createContainer, createLab, destroyLab, type Lab } from '../../deploy/lab/index.js'
import { until } from '../agent/helpers.js'
import { CNI_BIN, LabPodman } from './lab-podman.js'

const NET = 'cnired'
const SUBNET = '10.124.0.0/24'
const CNI_NAME = 'ovnet-cni-test'
const IMAGE = 'localhost/ovnet-busybox:cni'
/**
 * What podman 4.3 writes outside its --root/--runroot whatever it is told: the image import's blob
 * info cache and libcni's results cache. Removed after the test only when the test created them.
 */
const PODMAN_GLOBAL_DIRS = ['/var/lib/containers', '/var/lib/cni']

interface PluginRun { code: number, out: Record<string, unknown> | undefined, text: string }

/** The plugin as a runtime runs it: CNI_* environment, config on stdin, JSON on stdout. */
async function plugin (env: Record<string, string>, conf: Record<string, unknown>): Promise<PluginRun> {
  return await new Promise(resolve => {
    const child = execFile(process.execPath, [CNI_BIN], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 60_000 }, (err, stdout) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, out: stdout.trim().startsWith('{') ? JSON.parse(stdout) as Record<string, unknown> : undefined, text: stdout })
    })
    child.stdin!.end(JSON.stringify(conf))
  })
}

async function ipJson<T> (ns: string, args: string[]): Promise<T[]> {
  const r = await exec('ip', ['-n', ns, '-json', ...args])
  return JSON.parse(r.stdout || '[]') as T[]
}

describe('ovnet-cni with real agents, and podman\'s CNI backend, on a 2-host netns lab', function () {
  this.timeout(400_000)
  const prefix = `cn${randomBytes(3).toString('hex')}`
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  const podmans: LabPodman[] = []
  const socket = (i: number): string => agents!.agents[i]!.socket
  const conf = (i: number, over: Record<string, unknown> = {}): Record<string, unknown> =>
    ({ cniVersion: '1.1.0', name: CNI_NAME, type: 'ovnet', network: NET, socket: socket(i), ...over })

  const createdByUs: string[] = []

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    createdByUs.push(...PODMAN_GLOBAL_DIRS.filter(d => !existsSync(d)))
    lab = await createLab({ hosts: 2, prefix })
    agents = new LabAgents(lab)
    await agents.start()
    await agents.waitMembers(2)
    await agents.client(0).createNetwork({ Name: NET, Subnet: SUBNET })
    await until('host 2 knows the network', async () => (await agents!.client(1).listNetworks()).some(n => n.Name === NET))
  })

  let failed = false
  afterEach(function () { if (this.currentTest?.state === 'failed') failed = true })

  after(async () => {
    if (failed) {
      for (const a of agents?.agents ?? []) {
        const lines = (await readFile(a.log, 'utf8').catch(() => '')).split('\n').filter(l => /"level":(40|50|60)/.test(l))
        console.log(`--- agent ${a.host.name} warnings and errors (${lines.length}):\n${lines.slice(-20).join('\n')}`)
      }
    }
    // Containers first (podman runs CNI DEL while the agents are still up), then agents and lab.
    for (const p of podmans) await p.tearDown()
    await agents?.stopAll().catch(() => {})
    if (lab !== undefined) await destroyLab(prefix)
    for (const d of createdByUs) await rm(d, { recursive: true, force: true })
  })

  it('by hand: ADD gives a cluster address, CHECK reads the kernel, the attachment survives kill -9, GC and DEL release it', async () => {
    const ns = await createContainer(prefix, lab!.hosts[0]!.name, 'byhand')
    const netns = `/run/netns/${ns}`
    const env = { CNI_CONTAINERID: 'byhand0001', CNI_NETNS: netns, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=team;K8S_POD_NAME=byhand' }
    const add = await plugin({ ...env, CNI_COMMAND: 'ADD' }, conf(0, { mtu: 1400 }))
    assert.equal(add.code, 0, add.text)
    const result = add.out as { ips: Array<{ address: string, gateway: string }>, interfaces: Array<{ name: string, mac: string, sandbox: string }> }
    const address = result.ips[0]!.address
    assert.match(address, /^10\.124\.0\.\d+\/24$/)
    assert.equal(result.ips[0]!.gateway, '10.124.0.1')
    assert.deepEqual(result.interfaces.map(i => [i.name, i.sandbox]), [['eth0', netns]])
    // In the kernel: the interface with the MTU asked for, the address, the default route.
    const [eth0] = await ipJson<{ mtu: number, address: string, addr_info: Array<{ local: string, prefixlen: number }> }>(ns, ['-4', 'addr', 'show', 'dev', 'eth0'])
    assert.equal(eth0!.mtu, 1400)
    const [link] = await ipJson<{ address: string }>(ns, ['link', 'show', 'dev', 'eth0'])
    assert.equal(link!.address, result.interfaces[0]!.mac)
    assert.deepEqual(eth0!.addr_info.map(a => `${a.local}/${a.prefixlen}`), [address])
    const prevResult = add.out!
    assert.equal((await plugin({ ...env, CNI_COMMAND: 'CHECK' }, conf(0, { mtu: 1400, prevResult }))).code, 0)

    // Named in inspect --verbose on both hosts, as an ordinary endpoint.
    for (const i of [0, 1]) {
      await until(`host ${i + 1} lists team_byhand`, async () =>
        (await agents!.client(i).inspectNetwork(NET, true)).Endpoints?.some(e => e.Name === 'team_byhand' && e.EndpointIP === address.split('/')[0]) === true)
    }

    // kill -9 and restart: the agent rebuilds the attachment from its state; CHECK still passes.
    await agents!.kill(0)
    const down = await plugin({ ...env, CNI_COMMAND: 'CHECK' }, conf(0, { mtu: 1400, prevResult }))
    assert.equal(down.out?.code, 11, 'agent down: try again later')
    await agents!.restart(0)
    await until('CHECK passes after the restart', async () => (await plugin({ ...env, CNI_COMMAND: 'CHECK' }, conf(0, { mtu: 1400, prevResult }))).code === 0)
    assert.ok((await agents!.client(0).attachments(NET)).some(a => a.ContainerID === 'byhand0001' && a.IPv4Address === address))

    // The kernel spoiled behind the plugin's back: CHECK says so.
    await exec('ip', ['-n', ns, 'addr', 'flush', 'dev', 'eth0'])
    const spoiled = await plugin({ ...env, CNI_COMMAND: 'CHECK' }, conf(0, { mtu: 1400, prevResult }))
    assert.equal(spoiled.out?.code, 101)
    assert.match(String(spoiled.out?.msg), /address .* missing/)

    // GC with this attachment still valid keeps it; without it, releases it.
    assert.equal((await plugin({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf(0, { 'cni.dev/valid-attachments': [{ containerID: 'byhand0001', ifname: 'eth0' }] }))).code, 0)
    assert.equal((await agents!.client(0).attachments(NET)).length, 1)
    assert.equal((await plugin({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf(0, { 'cni.dev/valid-attachments': [] }))).code, 0)
    assert.equal((await agents!.client(0).attachments(NET)).length, 0)
    assert.deepEqual((await ipJson<{ ifname: string }>(ns, ['link', 'show'])).map(l => l.ifname), ['lo'], 'the interface went with the attachment')
    for (const i of [0, 1]) {
      await until(`host ${i + 1} forgot team_byhand`, async () => (await agents!.client(i).inspectNetwork(NET, true)).Endpoints?.length === 0)
    }
    // An interface of that name already in the container: an error, and nothing left attached.
    const made = await exec('ip', ['-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1p'])
    assert.equal(made.code, 0, made.stderr)
    const [foreign] = await ipJson<{ address: string }>(ns, ['link', 'show', 'dev', 'eth1'])
    const taken = await plugin({ ...env, CNI_IFNAME: 'eth1', CNI_COMMAND: 'ADD' }, conf(0))
    assert.equal(taken.code, 1, taken.text)
    assert.equal(taken.out?.code, 102, taken.text)
    assert.deepEqual(await agents!.client(0).attachments(NET), [])
    const [after] = await ipJson<{ address: string, addr_info: unknown[] }>(ns, ['-4', 'addr', 'show', 'dev', 'eth1'])
    assert.deepEqual(after?.addr_info ?? [], [], 'the existing interface got no address')
    assert.equal((await ipJson<{ address: string }>(ns, ['link', 'show', 'dev', 'eth1']))[0]?.address, foreign!.address, 'nor our MAC')
    assert.deepEqual((await ipJson<{ ifname: string }>(ns, ['link', 'show'])).map(l => l.ifname).sort(), ['eth1', 'eth1p', 'lo'])
    await exec('ip', ['-n', ns, 'link', 'del', 'eth1'])
    // DEL after that (and twice): success, nothing to do.
    for (let k = 0; k < 2; k++) {
      const del = await plugin({ ...env, CNI_COMMAND: 'DEL' }, conf(0))
      assert.equal(del.code, 0, del.text)
      assert.equal(del.text, '')
    }
    // The address went back to the pool: an ADD asking for exactly it gets it.
    const again = await plugin({ ...env, CNI_COMMAND: 'ADD' }, conf(0, { runtimeConfig: { ips: [address] } }))
    assert.equal(again.code, 0, again.text)
    assert.equal((again.out as { ips: Array<{ address: string }> }).ips[0]!.address, address)
    assert.equal((await plugin({ ...env, CNI_COMMAND: 'DEL' }, conf(0))).code, 0)
    assert.equal((await agents!.client(0).attachments(NET)).length, 0)
  })

  it('podman run on each host: cluster addresses, pings over VXLAN, names in inspect --verbose; podman rm gives the addresses back', async () => {
    const inUse = async (): Promise<number> => (await agents!.client(0).ipamStatus()).Pools.find(q => q.Subnet === SUBNET)!.IPsInUse
    const before = await inUse()
    const t0 = Date.now()
    const tar = await busyboxImageTar(lab!.stateDir)
    for (const [i, h] of lab!.hosts.entries()) {
      const p = new LabPodman(h, join(lab!.stateDir, h.name, 'podman'), socket(i))
      podmans.push(p)
      await p.setUp(CNI_NAME, NET)
      await p.ok(['import', tar, IMAGE])
    }
    console.log(`      (podman set-up and image import on 2 hosts: ${Date.now() - t0} ms)`)
    const ips: string[] = []
    for (const [i, p] of podmans.entries()) {
      const t1 = Date.now()
      await p.ok(['run', '-d', '--ulimit', 'host', '--name', `web${i + 1}`, '--network', CNI_NAME, IMAGE, 'sleep', '600'])
      console.log(`      (podman run -d on host ${i + 1}: ${Date.now() - t1} ms)`)
      const inspect = JSON.parse(await p.ok(['inspect', `web${i + 1}`])) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string, Gateway: string }> } }>
      const n = inspect[0]!.NetworkSettings.Networks[CNI_NAME]!
      assert.match(n.IPAddress, /^10\.124\.0\.\d+$/)
      assert.equal(n.Gateway, '10.124.0.1')
      ips.push(n.IPAddress)
      // Inside the container: eth0 holds the address podman reported.
      assert.match(await p.ok(['exec', `web${i + 1}`, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet ${n.IPAddress.replace(/\./g, '\\.')}/24`))
    }
    assert.notEqual(ips[0], ips[1])
    // Names of both containers in inspect --verbose on both hosts, each owned by its host.
    for (const i of [0, 1]) {
      await until(`host ${i + 1} lists web1 and web2`, async () => {
        const eps = (await agents!.client(i).inspectNetwork(NET, true)).Endpoints ?? []
        return ['web1', 'web2'].every((name, k) => eps.some(e => e.Name === name && e.EndpointIP === ips[k] && e.Node === lab!.hosts[k]!.ns && e.Programmed))
      })
    }
    // Across the overlay, both ways.
    await until('web1 pings web2', async () => (await podmans[0]!.run(['exec', 'web1', 'ping', '-c', '1', '-W', '1', ips[1]!])).code === 0)
    await until('web2 pings web1', async () => (await podmans[1]!.run(['exec', 'web2', 'ping', '-c', '1', '-W', '1', ips[0]!])).code === 0)

    // podman rm: CNI DEL; the endpoint goes everywhere and the address is free again.
    for (const [i, p] of podmans.entries()) await p.ok(['rm', '--force', '--time', '0', `web${i + 1}`])
    for (const i of [0, 1]) {
      assert.deepEqual(await agents!.client(i).attachments(NET), [])
      await until(`host ${i + 1} has no endpoints left`, async () => (await agents!.client(i).inspectNetwork(NET, true)).Endpoints?.length === 0)
    }
    await until('the addresses are back in the pool', async () => await inUse() === before)
    // A new container may get the freed address: run one asking for web1's old one.
    await podmans[0]!.ok(['run', '-d', '--ulimit', 'host', '--name', 'web3', '--network', CNI_NAME, '--ip', ips[0]!, IMAGE, 'sleep', '600'])
    const again = JSON.parse(await podmans[0]!.ok(['inspect', 'web3'])) as Array<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>
    assert.equal(again[0]!.NetworkSettings.Networks[CNI_NAME]!.IPAddress, ips[0])
    await podmans[0]!.ok(['rm', '--force', '--time', '0', 'web3'])
    assert.deepEqual(await agents!.client(0).attachments(NET), [])
  })
})
