/**
 * Embedded DNS benchmark (docs/dns.md).
 *
 *   npm run bench:dns -- [--queries 20000] [--seconds 5] [--hosts 5] [--attaches 40] [--no-lab]
 *
 * 1. Local answer latency: one query at a time over real UDP on 127.0.0.1 to the resolver (the
 *    agent's serving code: serveUdp + Resolver + NameTable of 1,000 endpoints), send to answer,
 *    measured by the client in the same process; and the resolver's own time (handle()) alone.
 * 2. Answers per second on one core: the resolver in this process (one thread: one core), the
 *    load from a separate process keeping 128 queries in flight over UDP for `--seconds`.
 * 3. Attach returns -> the name resolvable on all hosts (root): a lab of `--hosts` hosts with
 *    agents, one `--dns` container per host asking its own host's resolver in a loop (a prober
 *    process in the container's namespace, every 2 ms) as soon as the name is handed to it;
 *    per attach, the time until the last host answered it. DNS_BENCH_KEEP=1 keeps the lab for
 *    10 minutes when a name does not resolve (after printing what each host's resolver answers).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { cpus, loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import * as dns from 'dns-packet'
import { NameTable, Resolver, serveUdp } from '../agent/dns/index.js'

function arg (name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!
const f3 = (x: number): string => x.toFixed(3)

async function main (): Promise<void> {
  const names = new NameTable()
  names.setNetwork({ id: 'n', name: 'bench', internal: false })
  for (let i = 0; i < 1000; i++) names.upsert({ nid: 'n', eid: `e${i}`, name: `ep${i}`, ip: `10.${(i >> 8) & 255}.${i & 255}.2`, aliases: i < 10 ? ['svc'] : [] })
  const resolver = new Resolver({ names })
  const asker = { nids: new Set(['n']), forward: false }
  const sock = createSocket('udp4')
  await new Promise<void>(resolve => { sock.bind(0, '127.0.0.1', () => { resolve() }) })
  const serving = serveUdp(sock, { resolver, identify: () => asker })
  const port = sock.address().port
  process.stdout.write(`embedded DNS benchmark; ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${loadavg().map(l => l.toFixed(2)).join(' ')}\n`)

  // 1. latency
  const n = arg('queries', 20_000)
  const client = createSocket('udp4')
  await new Promise<void>(resolve => { client.bind(0, '127.0.0.1', () => { resolve() }) })
  const rtt: number[] = []
  for (let i = 0; i < n; i++) {
    const q = dns.encode({ type: 'query', id: i & 0xffff, questions: [{ type: 'A', name: i % 10 === 0 ? 'svc' : `ep${i % 1000}`, class: 'IN' }] })
    const t0 = performance.now()
    await new Promise<void>(resolve => { client.once('message', () => { resolve() }); client.send(q, port, '127.0.0.1') })
    if (i >= 1000) rtt.push(performance.now() - t0)
  }
  client.close()
  const own: number[] = []
  for (let i = 0; i < n; i++) {
    const q = dns.encode({ type: 'query', id: i & 0xffff, questions: [{ type: 'A', name: `ep${i % 1000}`, class: 'IN' }] })
    const t0 = performance.now()
    await resolver.handle(q, asker, 'udp')
    if (i >= 1000) own.push(performance.now() - t0)
  }
  process.stdout.write(`local answer, UDP on 127.0.0.1, one at a time (${rtt.length} queries): p50 ${f3(pct(rtt, 0.5))} ms, p99 ${f3(pct(rtt, 0.99))} ms, max ${f3(Math.max(...rtt))} ms\n`)
  process.stdout.write(`  the resolver alone (decode, look up, encode): p50 ${f3(pct(own, 0.5))} ms, p99 ${f3(pct(own, 0.99))} ms\n`)

  // 2. throughput
  const seconds = arg('seconds', 5)
  const load = fork(new URL(import.meta.url).pathname, ['--load', String(port), String(seconds)], { execArgv: ['--import', 'tsx'] })
  let cpu0 = process.cpuUsage()
  const r = await new Promise<{ answers: number, seconds: number }>(resolve => {
    load.on('message', (m: { start?: boolean, answers?: number, seconds?: number }) => {
      if (m.start === true) cpu0 = process.cpuUsage()
      else resolve(m as { answers: number, seconds: number })
    })
  })
  const cpu = process.cpuUsage(cpu0)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  load.kill()
  // On a shared machine the load generator (and the other tenants) may keep the server below a
  // full core: answers per CPU-second of the server is what one core sustains.
  process.stdout.write(`answers per second, server on one thread, load from another process (128 in flight): ${Math.round(r.answers / r.seconds)}/s` +
    ` at ${(100 * cpuSeconds / r.seconds).toFixed(0)} % of one core = ${Math.round(r.answers / cpuSeconds)} answers per CPU-second of the server\n`)
  serving.close()

  if (process.argv.includes('--no-lab')) return
  if (process.getuid?.() !== 0) { process.stdout.write('attach -> resolvable: skipped (needs root for the netns lab)\n'); return }
  await attachToResolvable(arg('hosts', 5), arg('attaches', 40))
}

/** In a container namespace: reads names on stdin, asks GATEWAY:53 every 2 ms until NOERROR with an address, prints `name ms`. */
const PROBER = `
const dgram = require('dgram'), rl = require('readline').createInterface({ input: process.stdin })
const gw = process.argv[1]
const s = dgram.createSocket('udp4')
const waiting = new Map()
let id = 1
s.on('message', m => {
  const q = m.readUInt16BE(0), w = waiting.get(q)
  if (w === undefined) return
  waiting.delete(q)
  const rcode = m[3] & 15, ancount = m.readUInt16BE(6)
  if (rcode === 0 && ancount > 0) { console.log(w.name + ' ' + (performance.now() - w.t0).toFixed(2)); w.done = true }
})
const ask = w => {
  if (w.done) return
  const qid = id++ & 0xffff
  const labels = w.name.split('.').map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const msg = Buffer.concat([Buffer.from([qid >> 8, qid & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])])
  waiting.set(qid, w)
  s.send(msg, 53, gw)
  setTimeout(() => ask(w), 2)
}
rl.on('line', name => ask({ name, t0: performance.now(), done: false }))
s.bind(0, () => console.log('ready'))
`

async function attachToResolvable (hosts: number, attaches: number): Promise<void> {
  const { LabAgents } = await import('../deploy/lab/index.js')
  const { spawnIn } = await import('../deploy/lab/index.js')
  const { createContainer, createLab, destroyLab } = await import('../deploy/lab/index.js')
  const { rm } = await import('node:fs/promises')
  const prefix = `dnsb${randomBytes(2).toString('hex')}`
  const lab = await createLab({ hosts, prefix })
  const agents = new LabAgents(lab)
  const probers: ChildProcess[] = []
  const made: string[] = []
  try {
    await agents.start()
    await agents.waitMembers(hosts)
    await agents.client(0).createNetwork({ Name: 'bench', Subnet: '10.90.0.0/16' })
    for (let i = 0; i < hosts; i++) {
      while (!(await agents.client(i).listNetworks()).some(x => x.Name === 'bench')) await new Promise(resolve => setTimeout(resolve, 100))
    }
    const lines: Array<Map<string, (ms: number) => void>> = []
    for (let i = 0; i < hosts; i++) {
      const ns = await createContainer(prefix, lab.hosts[i]!.name, 'asker')
      made.push(ns)
      await agents.client(i).attach('bench', { Netns: ns, Name: `asker${i}` })
      while ((await agents.client(i).inspectNetwork('bench')).DNS?.Listening !== true) await new Promise(resolve => setTimeout(resolve, 100))
      const p = spawnIn(ns, process.execPath, ['-e', PROBER, '10.90.0.1'], { stdio: ['pipe', 'pipe', 'inherit'] })
      probers.push(p)
      const waiters = new Map<string, (ms: number) => void>()
      lines.push(waiters)
      const rl = createInterface({ input: p.stdout! })
      await new Promise<void>(resolve => {
        rl.on('line', l => {
          if (l === 'ready') { resolve(); return }
          const [name, ms] = l.split(' ')
          waiters.get(name!)?.(Number(ms))
        })
      })
    }
    const all: number[] = []
    const attachMs: number[][] = [[], []]
    for (let k = 0; k < attaches; k++) {
      const h = k % hosts
      const ns = await createContainer(prefix, lab.hosts[h]!.name, `c${k}`)
      made.push(ns)
      const name = `ep${k}`
      // Every other attach with --dns (the resolv.conf written in the attach): its cost, if any, shows.
      const a0 = performance.now()
      const ep = await agents.client(h).attach('bench', { Netns: ns, Name: name, ...(k % 2 === 1 ? { DNS: true } : {}) })
      const t0 = performance.now()
      attachMs[k % 2]!.push(t0 - a0)
      const got = await Promise.all(lines.map(async (w, i) => await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`${name} not resolvable on host ${i + 1} within 10 s`)) }, 10_000)
        w.set(name, () => { clearTimeout(timer); w.delete(name); resolve(performance.now() - t0) })
        probers[i]!.stdin!.write(name + '\n')
      })))
      all.push(Math.max(...got))
      void ep
    }
    process.stdout.write(`attach returns -> name resolvable on all ${hosts} hosts (${attaches} attaches, round robin over the hosts):` +
      ` p50 ${pct(all, 0.5).toFixed(1)} ms, p99 ${pct(all, 0.99).toFixed(1)} ms, max ${Math.max(...all).toFixed(1)} ms\n`)
    process.stdout.write(`  attach itself (the agent up to its answer): p50 ${pct(attachMs[0]!, 0.5).toFixed(1)} ms without --dns, ${pct(attachMs[1]!, 0.5).toFixed(1)} ms with --dns\n`)
  } catch (err) {
    const { exec } = await import('../deploy/lab/index.js')
    for (let i = 0; i < hosts; i++) {
      const r = await exec('ip', ['netns', 'exec', made[i]!, 'dig', '@10.90.0.1', '+time=1', '+tries=1', String((err as Error).message.split(' ')[0])])
      process.stderr.write(`dig from asker ${i}: ${r.stdout.split('\n').filter(l => /status|^ep/.test(l)).join(' | ')} ${r.stderr}\n`)
    }
    const { readFile } = await import('node:fs/promises')
    for (const ag of agents.agents) {
      const log = await readFile(ag.log, 'utf8').catch(() => '')
      process.stderr.write(`--- ${ag.host.name}\n${log.split('\n').filter(l => l.includes('"dns"') || l.includes('"level":40') || l.includes('"level":50')).slice(-8).map(l => l.slice(0, 300)).join('\n')}\n`)
    }
    if (process.env.DNS_BENCH_KEEP === '1') { process.stderr.write(`lab ${prefix} kept\n`); await new Promise(resolve => setTimeout(resolve, 600_000)) }
    throw err
  } finally {
    for (const p of probers) p.kill('SIGKILL')
    await agents.stopAll().catch(() => {})
    await destroyLab(prefix)
    for (const ns of made) await rm(`/etc/netns/${ns}`, { recursive: true, force: true })
  }
}

// ---- the load generator (a child of this script) ---------------------------------------------
async function loadGenerator (): Promise<void> {
  const port = Number(process.argv[3])
  const seconds = Number(process.argv[4])
  const s = createSocket('udp4')
  const queries = Array.from({ length: 256 }, (_, i) => dns.encode({ type: 'query', id: i, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name: `ep${i % 1000}`, class: 'IN' }] }))
  let answers = 0
  let sent = 0
  let counting = false
  s.on('message', () => {
    if (counting) answers++
    s.send(queries[sent++ & 255]!, port, '127.0.0.1')
  })
  s.bind(0, '127.0.0.1', () => {
    for (let i = 0; i < 128; i++) s.send(queries[sent++ & 255]!, port, '127.0.0.1')
    // A second of warm-up (JIT), then count.
    setTimeout(() => {
      counting = true
      process.send!({ start: true })
      const t0 = performance.now()
      setTimeout(() => {
        process.send!({ answers, seconds: (performance.now() - t0) / 1000 })
        s.close()
      }, seconds * 1000)
    }, 1000)
  })
  // Lost datagrams would stall the window: top it up.
  setInterval(() => { for (let i = 0; i < 8; i++) s.send(queries[sent++ & 255]!, port, '127.0.0.1') }, 50).unref()
}

if (process.argv[2] === '--load') await loadGenerator()
else await main()
