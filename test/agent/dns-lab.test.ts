/**
 * The embedded DNS on real namespaces: a 3-host netns lab, two networks, agents as processes, a
 * DNS server of the test's own on the lab's outside host as the hosts' upstream (never the
 * internet), and `dig` (bind9-dnsutils) run in the containers' namespaces with the resolv.conf
 * `attach --dns` wrote (`ip netns exec` binds /etc/netns/NS/resolv.conf over /etc/resolv.conf).
 * Root only.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LabAgents } from '../../deploy/lab/index.js'
import { exec, spawnIn } from '../../deploy/lab/index.js'
import { createContainer, createLab, destroyLab, type Lab } from '../../deploy/lab/index.js'
import { until } from './helpers.js'

/** The lab's upstream: ext.example -> 203.0.113.7 (UDP and TCP), NXDOMAIN for everything else. */
const UPSTREAM = `
const dns = require('dns-packet'), dgram = require('dgram'), net = require('net')
const ip = process.argv[1]
const answer = m => {
  const q = dns.decode(m)
  const name = q.questions[0].name
  const ok = name === 'ext.example'
  return dns.encode({ type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE | (ok ? 0 : 3), questions: q.questions,
    answers: ok ? [{ type: 'A', name, ttl: 60, data: '203.0.113.7' }] : [] })
}
const u = dgram.createSocket('udp4')
u.on('message', (m, r) => { try { u.send(answer(m), r.port, r.address) } catch {} })
u.bind(53, ip, () => {
  net.createServer(c => {
    let b = Buffer.alloc(0)
    c.on('data', d => {
      b = Buffer.concat([b, d])
      if (b.length < 2 || b.length < 2 + b.readUInt16BE(0)) return
      const a = answer(b.subarray(2, 2 + b.readUInt16BE(0)))
      const f = Buffer.alloc(2 + a.length); f.writeUInt16BE(a.length, 0); a.copy(f, 2); c.end(f)
    })
  }).listen(53, ip, () => console.log('up'))
})
`

interface Ctr { name: string, ns: string, ip: string, host: number }

interface Dig { status: string, answers: string[], code: number | null }

/** `dig` inside a container namespace, through its resolv.conf. */
async function dig (ns: string, args: readonly string[]): Promise<Dig> {
  const r = await exec('ip', ['netns', 'exec', ns, 'dig', '+time=1', '+tries=2', '+noall', '+comments', '+answer', ...args])
  const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `no answer (exit ${String(r.code)})`
  const answers = r.stdout.split('\n').filter(l => l !== '' && !l.startsWith(';')).map(l => l.split(/\s+/).pop()!)
  return { status, answers, code: r.code }
}

describe('embedded DNS on a 3-host netns lab with two networks (root)', function () {
  this.timeout(600_000)
  const prefix = `dns${randomBytes(2).toString('hex')}`
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  let upstream: ChildProcess | undefined
  const red: Ctr[] = []
  const blue: Ctr[] = []
  const namespaces: string[] = []

  before(async () => {
    lab = await createLab({ hosts: 3, prefix, outside: true })
    upstream = spawnIn(lab.outside!.ns, process.execPath, ['-e', UPSTREAM, lab.outside!.ip], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() })
    await new Promise<void>((resolve, reject) => { upstream!.stdout!.once('data', () => { resolve() }); upstream!.once('exit', c => { reject(new Error(`upstream exited ${String(c)}`)) }) })
    await mkdir(lab.stateDir, { recursive: true, mode: 0o700 })
    const resolvConf = join(lab.stateDir, 'upstream-resolv.conf')
    await writeFile(resolvConf, `nameserver ${lab.outside!.ip}\n`)
    agents = new LabAgents(lab, { extraArgs: ['--dns-resolv-conf', resolvConf] })
    await agents.start()
    await agents.waitMembers(3)
    const a = agents
    await a.client(0).createNetwork({ Name: 'red', Subnet: '10.80.0.0/24' })
    await a.client(1).createNetwork({ Name: 'blue', Subnet: '10.81.0.0/24' })
    for (let i = 0; i < 3; i++) {
      await until(`networks known on host ${i}`, async () => (await a.client(i).listNetworks()).length === 2)
    }
    for (let i = 0; i < 3; i++) {
      const ns = await createContainer(prefix, lab.hosts[i]!.name, 'r')
      namespaces.push(ns)
      const ep = await a.client(i).attach('red', { Netns: ns, Name: `r${i}`, Aliases: ['app'], DNS: true })
      assert.equal(ep.DNS, '10.80.0.1:53', 'attach reports the resolver')
      red.push({ name: `r${i}`, ns, ip: ep.IPv4Address.split('/')[0]!, host: i })
    }
    for (let i = 0; i < 2; i++) {
      const ns = await createContainer(prefix, lab.hosts[i]!.name, 'b')
      namespaces.push(ns)
      const ep = await a.client(i).attach('blue', { Netns: ns, Name: `b${i}`, DNS: true })
      blue.push({ name: `b${i}`, ns, ip: ep.IPv4Address.split('/')[0]!, host: i })
    }
    try {
      for (let i = 0; i < 3; i++) {
        await until(`resolver listening on host ${i}`, async () => (await a.client(i).inspectNetwork('red')).DNS?.Listening === true)
        if (i < 2) await until(`blue's resolver listening on host ${i}`, async () => (await a.client(i).inspectNetwork('blue')).DNS?.Listening === true)
      }
    } catch (err) {
      await dumpLogs()
      throw err
    }
  })

  /** What the agents logged about DNS (printed when a test fails). */
  const dumpLogs = async (): Promise<void> => {
    for (const ag of agents?.agents ?? []) {
      const log = await readFile(ag.log, 'utf8').catch(() => '')
      console.log(`--- ${ag.host.name}: dns log lines\n${log.split('\n').filter(l => l.includes('"dns"')).slice(-10).join('\n')}`)
    }
  }
  afterEach(async function () { if (this.currentTest?.state === 'failed') await dumpLogs() })

  after(async () => {
    upstream?.kill('SIGKILL')
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix)
    for (const ns of namespaces) await rm(`/etc/netns/${ns}`, { recursive: true, force: true })
  })

  it('attach --dns wrote the container\'s resolv.conf; inspect reports the resolver', async () => {
    const text = await readFile(`/etc/netns/${red[0]!.ns}/resolv.conf`, 'utf8')
    assert.match(text, /^nameserver 10\.80\.0\.1$/m)
    assert.deepEqual((await agents!.client(1).inspectNetwork('blue')).DNS, { Resolver: '10.81.0.1:53', Listening: true })
  })

  it('from a container on every host, names of containers on the other hosts resolve (UDP and TCP)', async () => {
    for (const from of red) {
      for (const to of red) {
        let d: Dig | undefined
        await until(`${from.name} resolves ${to.name}`, async () => { d = await dig(from.ns, [to.name]); return d.answers.includes(to.ip) })
        assert.equal(d!.status, 'NOERROR')
        assert.deepEqual(d!.answers, [to.ip])
      }
      const tcp = await dig(from.ns, ['+tcp', red[(from.host + 1) % 3]!.name])
      assert.deepEqual(tcp.answers, [red[(from.host + 1) % 3]!.ip], `dig +tcp from ${from.name}`)
    }
    assert.deepEqual((await dig(blue[1]!.ns, ['b0'])).answers, [blue[0]!.ip])
  })

  it('an alias of several endpoints returns all of them', async () => {
    for (const from of red) {
      const d = await dig(from.ns, ['app'])
      assert.deepEqual([...d.answers].sort(), red.map(c => c.ip).sort(), `app from ${from.name}`)
    }
  })

  it('a name of the other network is NXDOMAIN; PTR answers within the network only', async () => {
    assert.equal((await dig(red[0]!.ns, ['b0'])).status, 'NXDOMAIN')
    assert.equal((await dig(blue[0]!.ns, ['r2'])).status, 'NXDOMAIN')
    assert.equal((await dig(blue[0]!.ns, ['app'])).status, 'NXDOMAIN')
    const ptr = await dig(red[0]!.ns, ['-x', red[2]!.ip])
    assert.deepEqual(ptr.answers, ['r2.red.'])
    assert.equal((await dig(red[0]!.ns, ['-x', blue[1]!.ip])).status, 'NXDOMAIN')
  })

  it('other names are forwarded to the host\'s resolvers (the lab\'s upstream)', async () => {
    for (const from of [red[2]!, blue[0]!]) {
      const d = await dig(from.ns, ['ext.example'])
      assert.deepEqual(d.answers, ['203.0.113.7'], `from ${from.name}`)
      assert.equal((await dig(from.ns, ['nothing.example'])).status, 'NXDOMAIN')
      assert.deepEqual((await dig(from.ns, ['+tcp', 'ext.example'])).answers, ['203.0.113.7'])
    }
  })

  it('a container on both networks resolves both; the resolver answers no one but containers', async () => {
    const a = agents!
    await a.client(0).attach('blue', { Netns: red[0]!.ns, Name: 'rb0', IfName: 'eth1' })
    await until('r0 resolves b1 once on blue too', async () => (await dig(red[0]!.ns, ['b1'])).answers.includes(blue[1]!.ip))
    assert.deepEqual((await dig(red[0]!.ns, ['r1'])).answers, [red[1]!.ip])
    await a.client(0).detach('blue', { Netns: red[0]!.ns })
    await until('r0 no longer resolves b1', async () => (await dig(red[0]!.ns, ['b1'])).status === 'NXDOMAIN')
    // The host itself reaches the sandbox's gateway through the uplink: no answer for it.
    const host = await exec('nsenter', [`--net=/run/netns/${lab!.hosts[0]!.ns}`, '--', 'dig', '@10.80.0.1', '+time=1', '+tries=1', 'r1'])
    assert.notEqual(host.code, 0, `the host got an answer: ${host.stdout}`)
    assert.match(host.stdout, /timed out|no servers could be reached/)
  })

  it('detach -> NXDOMAIN on every host', async () => {
    const gone = red[1]!
    await agents!.client(1).detach('red', { Netns: gone.ns })
    for (const from of [red[0]!, red[2]!]) {
      await until(`${gone.name} gone for ${from.name}`, async () => (await dig(from.ns, [gone.name])).status === 'NXDOMAIN')
      assert.deepEqual([...(await dig(from.ns, ['app'])).answers].sort(), [red[0]!.ip, red[2]!.ip].sort())
    }
    await until('resolv.conf of the detached container removed', async () => await readFile(`/etc/netns/${gone.ns}/resolv.conf`).then(() => false, () => true))
  })

  it('an agent killed (-9) and restarted answers again in its adopted sandbox', async () => {
    await agents!.kill(2)
    assert.equal((await dig(red[2]!.ns, ['r0'])).status, 'no answer (exit 9)', 'nobody answers while the agent is down')
    await agents!.restart(2)
    await until('r2\'s host answers again', async () => (await dig(red[2]!.ns, ['r0'])).answers.includes(red[0]!.ip), 30_000)
    assert.deepEqual((await dig(red[0]!.ns, ['r2'])).answers, [red[2]!.ip], 'and its names are back on the others')
  })
})
