/**
 * Egress on real namespaces: a 3-host netns lab with an "outside" server on the underlay (no
 * cluster host), agents as processes. Containers reach the outside through their own host,
 * masqueraded to its address; an internal network's do not, but reach each other across hosts;
 * two networks stay isolated; a published port answers from the underlay; bad publications change
 * nothing; kill -9 + restart (10 times) leaves exactly one copy of every rule; SIGTERM leaves
 * none. Only the lab's namespaces' iptables are read or written. Root only.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { ApiError } from '../../agent/api-client.js'
import {
  LabAgents, exec, execIn, spawnIn, pingMatrix, createContainer, createLab, destroyLab, type PingTarget, type
  Lab
} from '../../deploy/lab/index.js'
import { until } from './helpers.js'

const SERVER = 'require("net").createServer(s => s.end(String(s.remoteAddress))).listen(Number(process.argv[1]), process.argv[2], () => console.log("up"))'
const CLIENT = 'const s = require("net").connect(Number(process.argv[1]), process.argv[2]); let d = ""; s.setTimeout(1500, () => process.exit(2)); s.on("data", x => { d += x }); s.on("end", () => { console.log(d); process.exit(0) }); s.on("error", () => process.exit(1))'

/**
 * The rules of `iptables-save` of a namespace, table by table, without its timestamped comments,
 * counters and the empty tables iptables-nft leaves once a table has been used.
 */
async function save (ns: string): Promise<string> {
  const r = await exec('nsenter', [`--net=/run/netns/${ns}`, '--', 'iptables-save'])
  assert.equal(r.code, 0, r.stderr)
  let table = ''
  const out: string[] = []
  for (const l of r.stdout.split('\n')) {
    if (l.startsWith('*')) table = l
    else if (l.startsWith('#') || l === 'COMMIT' || l === '' || /^:[A-Z]+ ACCEPT/.test(l)) continue
    else out.push(`${table} ${l.replace(/ \[\d+:\d+\]$/, '')}`)
  }
  return out.join('\n')
}
const ours = (text: string): string[] => text.split('\n').filter(l => l.includes('OVNET'))

describe('egress on a 3-host netns lab with an outside server (root)', function () {
  this.timeout(600_000)
  const prefix = `eg${randomBytes(2).toString('hex')}`
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  const servers: ChildProcess[] = []
  const baseline: string[] = []
  const web: PingTarget[] = []

  const serve = async (ns: string, port: number, ip: string): Promise<void> => {
    const s = spawnIn(ns, process.execPath, ['-e', SERVER, String(port), ip], { stdio: ['ignore', 'pipe', 'inherit'] })
    servers.push(s)
    await new Promise<void>((resolve, reject) => { s.stdout!.once('data', () => { resolve() }); s.once('exit', c => { reject(new Error(`server exited ${c}`)) }) })
  }
  /** TCP from `ns` to ip:port: the peer address the server saw, or undefined if no connection. */
  const connect = async (ns: string, ip: string, port: number): Promise<string | undefined> => {
    const r = await execIn(ns, process.execPath, ['-e', CLIENT, String(port), ip])
    return r.code === 0 ? r.stdout.trim() : undefined
  }
  const ping = async (ns: string, ip: string): Promise<boolean> => (await execIn(ns, 'ping', ['-c', '1', '-W', '1', ip])).code === 0

  before(async () => {
    lab = await createLab({ hosts: 3, prefix, outside: true })
    // A rule of the host's own on host 3, which must stay where it is.
    const r = await exec('nsenter', [`--net=/run/netns/${lab.hosts[2]!.ns}`, '--', 'sh', '-c',
      'iptables -w -A FORWARD -m comment --comment host-own -j ACCEPT && iptables -w -t nat -A POSTROUTING -m comment --comment host-own -j RETURN'])
    assert.equal(r.code, 0, r.stderr)
    for (const h of lab.hosts) baseline.push(await save(h.ns))
    await serve(lab.outside!.ns, 9000, lab.outside!.ip)
    agents = new LabAgents(lab)
    await agents.start()
    await agents.waitMembers(3)
  })

  after(async () => {
    for (const s of servers) s.kill('SIGKILL')
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix)
  })

  it('containers on every host reach the outside server, seen as their host\'s address', async () => {
    const a = agents!
    await a.client(0).createNetwork({ Name: 'web', Subnet: '10.70.0.0/24' })
    for (let i = 0; i < 3; i++) await until(`web known on host ${i}`, async () => (await a.client(i).listNetworks()).some(n => n.Name === 'web'))
    for (let i = 0; i < 3; i++) {
      const ns = await createContainer(prefix, lab!.hosts[i]!.name, 'web')
      const ep = await a.client(i).attach('web', { Netns: ns, Name: `web-${i}` })
      web.push({ name: `web-${i}`, ns, ip: ep.IPv4Address.split('/')[0]! })
    }
    for (let i = 0; i < 3; i++) {
      let seen: string | undefined
      await until(`web-${i} reaches the outside`, async () => { seen = await connect(web[i]!.ns, lab!.outside!.ip, 9000); return seen !== undefined })
      assert.equal(seen, lab!.hosts[i]!.ip, `the outside server sees host ${i + 1}'s address (masquerade)`)
      assert.ok(await ping(web[i]!.ns, lab!.outside!.ip), `web-${i} pings the outside host`)
    }
    // across hosts still over VXLAN: the peer sees the container's own address, not a host's
    await serve(web[1]!.ns, 9100, '0.0.0.0')
    assert.equal(await connect(web[0]!.ns, web[1]!.ip, 9100), web[0]!.ip, 'no NAT between containers of a network')
    const m = await pingMatrix(web, { timeoutS: 1 })
    assert.ok([...m.values()].every(r => [...r.values()].every(Boolean)), 'full matrix inside web')
    // the last endpoint of host 3 leaves (its sandbox and uplink go) and comes back at once
    await a.client(2).detach('web', { Netns: web[2]!.ns })
    const again = await a.client(2).attach('web', { Netns: web[2]!.ns, Name: 'web-2' })
    web[2]!.ip = again.IPv4Address.split('/')[0]!
    await until('web-2 reaches the outside again', async () => await connect(web[2]!.ns, lab!.outside!.ip, 9000) === lab!.hosts[2]!.ip)
  })

  it('an internal network: no way out, but its containers reach each other across hosts; inspect shows it', async () => {
    const a = agents!
    await a.client(1).createNetwork({ Name: 'intl', Subnet: '10.71.0.0/24', Internal: true })
    for (let i = 0; i < 3; i++) await until(`intl known on host ${i}`, async () => (await a.client(i).listNetworks()).some(n => n.Name === 'intl'))
    for (let i = 0; i < 3; i++) assert.equal((await a.client(i).inspectNetwork('intl')).Internal, true, `host ${i} replicated the internal flag`)
    assert.equal((await a.client(0).inspectNetwork('web')).Internal, false)
    const intl: PingTarget[] = []
    for (let i = 0; i < 3; i++) {
      const ns = await createContainer(prefix, lab!.hosts[i]!.name, 'intl')
      const ep = await a.client(i).attach('intl', { Netns: ns, Name: `intl-${i}` })
      intl.push({ name: `intl-${i}`, ns, ip: ep.IPv4Address.split('/')[0]! })
    }
    let m = await pingMatrix(intl, { timeoutS: 1 })
    for (let i = 0; i < 3 && ![...m.values()].every(r => [...r.values()].every(Boolean)); i++) m = await pingMatrix(intl, { timeoutS: 1 })
    assert.ok([...m.values()].every(r => [...r.values()].every(Boolean)), 'full matrix inside intl')
    for (const t of intl) {
      assert.equal(await ping(t.ns, lab!.outside!.ip), false, `${t.name} must not reach the outside`)
      assert.equal(await connect(t.ns, lab!.outside!.ip, 9000), undefined, `${t.name}: no TCP out either`)
      assert.equal(await ping(t.ns, lab!.hosts[0]!.ip), false, `${t.name} must not reach a host's underlay address`)
    }
    // and nothing of web reaches intl or back
    for (const w of web) for (const t of intl) assert.equal(await ping(w.ns, t.ip), false, `${w.name} -> ${t.name}`)
  })

  it('two networks stay isolated through the egress path (same host and across hosts)', async () => {
    const a = agents!
    await a.client(2).createNetwork({ Name: 'other', Subnet: '10.72.0.0/24' })
    await until('other known on host 1', async () => (await a.client(0).listNetworks()).some(n => n.Name === 'other'))
    await until('other known on host 2', async () => (await a.client(1).listNetworks()).some(n => n.Name === 'other'))
    const other: PingTarget[] = []
    for (const i of [0, 1]) {
      const ns = await createContainer(prefix, lab!.hosts[i]!.name, 'other')
      const ep = await a.client(i).attach('other', { Netns: ns, Name: `other-${i}` })
      other.push({ name: `other-${i}`, ns, ip: ep.IPv4Address.split('/')[0]! })
    }
    await until('other-0 reaches the outside', async () => await connect(other[0]!.ns, lab!.outside!.ip, 9000) === lab!.hosts[0]!.ip)
    await serve(other[0]!.ns, 9200, '0.0.0.0')
    for (const w of web) {
      for (const o of other) {
        assert.equal(await ping(w.ns, o.ip), false, `${w.name} -> ${o.name}`)
        assert.equal(await ping(o.ns, w.ip), false, `${o.name} -> ${w.name}`)
      }
      assert.equal(await connect(w.ns, other[0]!.ip, 9200), undefined, `${w.name}: no TCP to other-0`)
    }
  })

  it('a published port answers from the underlay; bad publications are clear errors and change nothing', async () => {
    const a = agents!
    const h = lab!.hosts[1]!
    const ns = await createContainer(prefix, h.name, 'pub')
    await serve(ns, 80, '0.0.0.0')
    const ep = await a.client(1).attach('web', { Netns: ns, Name: 'pub', Publish: ['8080:80', `${h.ip}:8443:80/tcp`] })
    const view = await a.client(1).inspectNetwork('web')
    assert.deepEqual(view.Containers[ep.EndpointID]!.Ports, ['0.0.0.0:8080->80/tcp', `${h.ip}:8443->80/tcp`])
    for (const port of [8080, 8443]) {
      let seen: string | undefined
      await until(`the outside reaches ${h.ip}:${port}`, async () => { seen = await connect(lab!.outside!.ns, h.ip, port); return seen !== undefined })
      assert.equal(seen, lab!.outside!.ip, 'the container sees the client\'s own address')
    }
    assert.equal(await connect(lab!.outside!.ns, lab!.hosts[0]!.ip, 8080), undefined, 'published on its own host only')
    assert.ok(await connect(h.ns, h.ip, 8080) !== undefined, 'the host itself reaches its published port (OUTPUT)')

    // a process of the host listens on 8081
    await serve(h.ns, 8081, '0.0.0.0')
    const before = await save(h.ns)
    const containers = Object.keys((await a.client(1).inspectNetwork('web')).Containers).length
    const bad = await createContainer(prefix, h.name, 'bad')
    const refused = async (req: { net: string, publish: string[] }, re: RegExp): Promise<void> => {
      await assert.rejects(a.client(1).attach(req.net, { Netns: bad, Publish: req.publish }), (e: unknown) => e instanceof ApiError && re.test(e.message), `${req.publish.join(',')} on ${req.net}`)
    }
    await refused({ net: 'web', publish: ['70000:80'] }, /out of range/)
    await refused({ net: 'web', publish: ['0:80'] }, /out of range/)
    await refused({ net: 'web', publish: ['8090:80/sctp'] }, /protocol/)
    await refused({ net: 'web', publish: ['8080:81'] }, /already published/)
    await refused({ net: 'web', publish: ['8090:80', '8090:81'] }, /already published/)
    await refused({ net: 'web', publish: ['8081:80'] }, /taken on this host/)
    await refused({ net: 'web', publish: ['192.0.2.77:8090:80'] }, /not an address of this host/)
    await refused({ net: 'intl', publish: ['8090:80'] }, /internal/)
    assert.equal(await save(h.ns), before, 'no rule changed')
    assert.equal(Object.keys((await a.client(1).inspectNetwork('web')).Containers).length, containers, 'no endpoint added')
    const links = (await execIn(bad, 'ip', ['-o', 'link', 'show'])).stdout.trim().split('\n')
    assert.equal(links.length, 1, 'the container got no interface')
  })

  it('kill -9 + restart, 10 times: the rules are adopted, exactly one copy of each, egress and ports still work', async () => {
    const a = agents!
    const h = lab!.hosts[1]!
    const want = ours(await save(h.ns))
    assert.ok(want.some(l => /MASQUERADE/.test(l)) && want.some(l => /DNAT --to-destination/.test(l)), 'host 2 has NAT and port rules')
    for (let round = 0; round < 10; round++) {
      await a.kill(1)
      assert.deepEqual(ours(await save(h.ns)), want, `round ${round}: a killed agent leaves its rules (adopted at restart)`)
      await a.restart(1)
      await until(`round ${round}: rules reconciled`, async () => JSON.stringify(ours(await save(h.ns))) === JSON.stringify(want), 30_000)
    }
    const rules = ours(await save(h.ns))
    assert.equal(new Set(rules).size, rules.length, 'no rule twice')
    assert.deepEqual(rules, want)
    await a.waitMembers(3)
    await until('web-1 reaches the outside after the restarts', async () => await connect(web[1]!.ns, lab!.outside!.ip, 9000) === h.ip)
    assert.ok(await connect(lab!.outside!.ns, h.ip, 8080) !== undefined, 'the published port answers after the restarts')
  })

  it('SIGTERM leaves no rule and no uplink behind, and the host\'s own rules as they were', async () => {
    const a = agents!
    for (let i = 0; i < 3; i++) assert.ok(ours(await save(lab!.hosts[i]!.ns)).length > 0, `host ${i + 1} had rules`)
    await a.stopAll()
    for (let i = 0; i < 3; i++) {
      const ns = lab!.hosts[i]!.ns
      assert.equal(await save(ns), baseline[i], `host ${i + 1}: iptables exactly as before the agent`)
      const links = (await exec('ip', ['-n', ns, '-o', 'link', 'show'])).stdout
      assert.doesNotMatch(links, /ovu[0-9a-f]{12}/, `host ${i + 1}: no uplink left`)
    }
  })
})
