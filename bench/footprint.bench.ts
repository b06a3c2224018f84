/**
 * `npm run bench:footprint` — what an idle `ovnet agent` costs: N agent processes on a netns lab
 * (deploy/lab, started as the lab and bench:cluster start them: bin/ovnet.js on the build, one at
 * a time), left idle, then from /proc: RSS (VmRSS) and CPU-seconds of each over `--idle-seconds`;
 * spawn -> first answer on its socket for each agent, and the CPU-seconds each joiner of hosts
 * 6-N had spent by then. Cheaper than bench:cluster (no attaches at rate, no CLI runs). Root only.
 *
 *   npm run bench:footprint -- [--hosts 20] [--idle-seconds 20] [--settle 10] [--endpoints 0]
 *                              [--probe] [--profile] [--timeline] [--prefix P] [--node-options '…']
 *
 * --endpoints K   a network and K endpoints on hosts 1-5 before hosts 6-N join (their join then
 *                 carries state, as in bench:cluster's step 5a)
 * --probe         load bench/footprint/probe.ts into every agent (NODE_OPTIONS --import): V8 heap
 *                 spaces and process.memoryUsage() at the start and end of the idle window
 * --profile       with --probe: a CPU profile of every agent over the idle window, summed by
 *                 function and by package (top entries printed; files kept with --keep)
 * --timeline      the log of the last joiner, as ms since its first line (what the join waits for)
 * --node-options  extra NODE_OPTIONS for the agents (an A/B of V8 flags; not how users run it)
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { packageRoot } from '../agent/index.js'
import { createContainer, createLab, destroyLab, LabAgents } from '../deploy/lab/index.js'
import { cpuSeconds, fmt, ovnetOk, rssMiB, statusMiB, summary, treeCpuSeconds } from './cluster/probes.js'
import { profileTops, type CpuProfile } from './footprint/profile.js'

const { values: o } = parseArgs({
  options: {
    hosts: { type: 'string', default: '20' },
    'idle-seconds': { type: 'string', default: '20' },
    settle: { type: 'string', default: '10' },
    endpoints: { type: 'string', default: '0' },
    probe: { type: 'boolean' },
    profile: { type: 'boolean' },
    timeline: { type: 'boolean' },
    keep: { type: 'boolean' },
    prefix: { type: 'string' },
    'node-options': { type: 'string' },
    help: { type: 'boolean', short: 'h' }
  }
})

function int (name: 'hosts' | 'idle-seconds' | 'settle' | 'endpoints', min: number, max: number): number {
  const v = o[name]
  const n = Number(v)
  if (typeof v !== 'string' || !/^\d+$/.test(v) || n < min || n > max) throw new Error(`--${name} must be a whole number ${min}-${max}, not ${String(v)}`)
  return n
}

const say = (s: string): void => { process.stdout.write(s + '\n') }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const mib = (b: number): string => (b / 2 ** 20).toFixed(1)
const median = (xs: number[]): number => summary(xs).p50
const load = (): string => loadavg().map(l => l.toFixed(2)).join(' ')
const SMALL = 5

interface Snapshot {
  memoryUsage: NodeJS.MemoryUsage
  heap: { total_heap_size: number, used_heap_size: number, malloced_memory: number }
  spaces: Array<{ space_name: string, space_size: number, space_used_size: number }>
}

async function readSnapshots (dir: string, pids: number[], n: number): Promise<Snapshot[]> {
  for (let i = 0; i < 50; i++) {
    const files = new Set(await readdir(dir))
    if (pids.every(p => files.has(`${p}-${n}.json`))) break
    await sleep(100)
  }
  return await Promise.all(pids.map(async p => JSON.parse(await readFile(join(dir, `${p}-${n}.json`), 'utf8')) as Snapshot))
}

function printSnapshots (snaps: Snapshot[]): void {
  const mu = (k: keyof NodeJS.MemoryUsage): string => mib(median(snaps.map(s => s.memoryUsage[k])))
  say(`  memoryUsage (median MiB): rss ${mu('rss')}, heapTotal ${mu('heapTotal')}, heapUsed ${mu('heapUsed')}, ` +
    `external ${mu('external')}, arrayBuffers ${mu('arrayBuffers')}, malloced ${mib(median(snaps.map(s => s.heap.malloced_memory)))}`)
  const names = snaps[0]!.spaces.map(s => s.space_name)
  say('  heap spaces (median MiB size / used): ' + names.map(n => {
    const sp = snaps.map(s => s.spaces.find(x => x.space_name === n)!)
    return `${n.replace('_space', '')} ${mib(median(sp.map(x => x.space_size)))}/${mib(median(sp.map(x => x.space_used_size)))}`
  }).join(', '))
}

/** Warnings and errors of every agent's log, counted by message. */
async function warnings (logs: string[]): Promise<void> {
  const counts = new Map<string, number>()
  for (const log of logs) {
    for (const l of (await readFile(log, 'utf8').catch(() => '')).split('\n')) {
      let j: { level?: number | string, msg?: string }
      try { j = JSON.parse(l) as typeof j } catch { continue }
      const warn = typeof j.level === 'number' ? j.level >= 40 : j.level === 'warn' || j.level === 'error'
      if (warn) counts.set(j.msg ?? '', (counts.get(j.msg ?? '') ?? 0) + 1)
    }
  }
  say(`  warnings and errors in the ${logs.length} agents' logs: ${counts.size === 0 ? 'none' : [...counts].map(([m, n]) => `${n} x "${m}"`).join('; ')}`)
}

async function timeline (log: string): Promise<void> {
  const lines = (await readFile(log, 'utf8')).trim().split('\n')
  let t0: number | undefined
  say(`  log of the last joiner (${log}), ms since its first line:`)
  for (const l of lines.slice(0, 40)) {
    let j: { time?: string, msg?: string, component?: string }
    try { j = JSON.parse(l) as typeof j } catch { continue }
    const t = Date.parse(j.time ?? '')
    if (Number.isNaN(t)) continue
    t0 ??= t
    say(`    ${String(t - t0).padStart(6)}  ${j.component === undefined ? '' : `[${j.component}] `}${j.msg ?? ''}`)
  }
}

async function main (): Promise<void> {
  if (o.help === true) {
    say('npm run bench:footprint -- [--hosts 20] [--idle-seconds 20] [--settle 10] [--endpoints 0] [--probe] [--profile] [--timeline] [--keep] [--prefix P] [--node-options …]')
    return
  }
  if (process.getuid?.() !== 0) throw new Error('bench:footprint builds a netns lab: run it as root')
  const hosts = int('hosts', 1, 200)
  const idleSeconds = int('idle-seconds', 1, 600)
  const settle = int('settle', 0, 600)
  const endpoints = int('endpoints', 0, 500)
  const prefix = o.prefix ?? `fp${Math.random().toString(16).slice(2, 6)}`
  const probeDir = o.probe === true ? await mkdtemp(join(tmpdir(), 'ovnet-footprint-')) : undefined
  const nodeOptions = [process.env.NODE_OPTIONS ?? '', o['node-options'] ?? '']
  if (probeDir !== undefined) {
    nodeOptions.push(`--import ${join(packageRoot(import.meta.url), 'dist', 'bench', 'footprint', 'probe.js')}`)
    process.env.OVNET_FOOTPRINT_DIR = probeDir
    if (o.profile === true) process.env.OVNET_FOOTPRINT_PROFILE = '1'
  }
  // The agents inherit the environment (nsenter execs node in place).
  const saved = process.env.NODE_OPTIONS
  process.env.NODE_OPTIONS = nodeOptions.filter(x => x !== '').join(' ')

  say(`bench:footprint: ${hosts} agents (lab ${prefix}), node ${process.version}, ${cpus().length} cores ` +
    `(${cpus()[0]?.model ?? '?'}), load average ${load()}${process.env.NODE_OPTIONS === '' ? '' : `, agents' NODE_OPTIONS: ${process.env.NODE_OPTIONS}`}`)
  let agents: LabAgents | undefined
  let stopping = false
  const cleanup = async (): Promise<void> => {
    if (stopping) return
    stopping = true
    await Promise.race([agents?.stopAll().catch(() => {}), sleep(20_000)])
    await destroyLab(prefix).catch((e: unknown) => { process.stderr.write(`removing lab ${prefix} failed: ${String(e)}\n`) })
    if (probeDir !== undefined && o.keep !== true) await rm(probeDir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })
  process.once('SIGTERM', () => { void cleanup().finally(() => process.exit(143)) })
  try {
    const lab = await createLab({ hosts, prefix })
    agents = new LabAgents(lab)
    const small = Math.min(SMALL, hosts)
    await agents.start({ oneByOne: true, upTo: small })
    if (endpoints > 0) {
      const socket = agents.agents[0]!.socket
      await ovnetOk(['network', 'create', 'fp', '--subnet', '10.97.0.0/16', '--socket', socket])
      for (let i = 0; i < endpoints; i++) {
        const ns = await createContainer(prefix, lab.hosts[i % small]!.name, `e${i}`)
        await agents.client(i % small).attach('fp', { Netns: ns })
      }
    }
    // One at a time, as start({ oneByOne }) does, reading each joiner's CPU-seconds (its own and
    // its children's) once it answers: what its start cost, much less load-dependent than the wall time.
    const startCpu: number[] = []
    for (let i = small + 1; i <= hosts; i++) {
      await agents.start({ oneByOne: true, upTo: i })
      startCpu.push(1000 * await treeCpuSeconds(agents.agents[i - 1]!.child.pid!))
    }
    process.env.NODE_OPTIONS = saved
    const ready = agents.agents.map(a => a.readyMs ?? NaN)
    say(`agent start -> answers: founder ${fmt(ready[0]!)}` +
      (hosts > 1 ? `; joiners 2-${small}: ${fmt(median(ready.slice(1, small)))} p50, ${fmt(Math.max(...ready.slice(1, small)))} max` : '') +
      (hosts > small ? `; joiners ${small + 1}-${hosts}: ${fmt(median(ready.slice(small)))} p50, ${fmt(summary(ready.slice(small)).p99)} p99` : ''))
    if (startCpu.length > 0) {
      say(`CPU at the first answer, joiners ${small + 1}-${hosts}: ${startCpu.map(c => c.toFixed(0)).join(', ')} ms`)
    }
    const t0 = performance.now()
    await agents.waitMembers(hosts, 120_000)
    say(`every agent sees ${hosts} members alive ${fmt(performance.now() - t0)} after the last start; ${settle} s to settle`)
    await sleep(settle * 1000)

    const pids = agents.agents.map(a => a.child.pid!)
    if (probeDir !== undefined) for (const p of pids) process.kill(p, 'SIGUSR2')
    const before = await Promise.all(pids.map(cpuSeconds))
    const w0 = performance.now()
    await sleep(idleSeconds * 1000)
    const after = await Promise.all(pids.map(cpuSeconds))
    if (probeDir !== undefined) for (const p of pids) process.kill(p, 'SIGUSR2')
    const wall = (performance.now() - w0) / 1000
    const cpu = after.map((c, i) => (100 * (c - before[i]!)) / wall)
    const rss = await Promise.all(pids.map(rssMiB))
    const anon = await Promise.all(pids.map(async p => await statusMiB(p, 'RssAnon')))
    const file = await Promise.all(pids.map(async p => await statusMiB(p, 'RssFile')))
    const c = summary(cpu)
    const r = summary(rss)
    say(`idle over ${idleSeconds} s: CPU % of one core mean ${(cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(2)}, ` +
      `p50 ${c.p50.toFixed(2)}, max ${c.max.toFixed(2)}; RSS MiB median ${r.p50.toFixed(1)}, max ${r.max.toFixed(1)}, min ${Math.min(...rss).toFixed(1)}` +
      ` (of which RssAnon median ${median(anon).toFixed(1)}, RssFile median ${median(file).toFixed(1)})`)
    if (probeDir !== undefined) {
      say('at the start of the idle window:')
      printSnapshots(await readSnapshots(probeDir, pids, 1))
      say('at the end:')
      printSnapshots(await readSnapshots(probeDir, pids, 2))
      if (o.profile === true) {
        await sleep(1000)
        const profiles: CpuProfile[] = []
        for (const p of pids) {
          try { profiles.push(JSON.parse(await readFile(join(probeDir, `${p}.cpuprofile`), 'utf8')) as CpuProfile) } catch { /* not written */ }
        }
        say(`CPU profiles of ${profiles.length} agents over the idle window (self time, all agents summed):`)
        for (const l of profileTops(profiles, 25)) say(`  ${l}`)
        if (o.keep === true) say(`  profiles kept in ${probeDir}`)
      }
    }
    if (o.timeline === true) {
      await timeline(agents.agents[agents.agents.length - 1]!.log)
      await warnings(agents.agents.map(a => a.log))
    }
    say(`load average at the end ${load()}`)
  } finally {
    process.env.NODE_OPTIONS = saved
    await cleanup()
  }
}

try {
  await main()
} catch (e) {
  process.stderr.write(`bench:footprint: ${(e as Error).stack ?? String(e)}\n`)
  process.exitCode = 1
}
