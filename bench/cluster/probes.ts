/**
 * What bench/cluster.bench.ts measures with: wall time of a CLI process, the agents' CPU and RSS
 * from /proc, and `ovnet events --json` streams (one CLI process per host) that note when each
 * endpoint first shows up on each host.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import { packageRoot } from '../../agent/index.js'

export const OVNET_BIN = join(packageRoot(import.meta.url), 'bin', 'ovnet.js')

/** Nearest-rank percentile (p in 0..1) of a sample. */
export function pct (xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
}

export interface Summary { n: number, p50: number, p99: number, max: number }

export function summary (xs: readonly number[]): Summary {
  return { n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs.length === 0 ? NaN : Math.max(...xs) }
}

export const fmt = (ms: number): string => Number.isNaN(ms) ? '-' : `${ms.toFixed(1)} ms`

export interface CliResult { ms: number, code: number | null, stdout: string, stderr: string }

/** Run `ovnet ARGS…` as a user does (a fresh node process on the built CLI) and time it. */
export async function ovnet (args: readonly string[]): Promise<CliResult> {
  const t0 = performance.now()
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OVNET_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', code => { resolve({ ms: performance.now() - t0, code, stdout, stderr }) })
  })
}

/** Like `ovnet` but a non-zero exit is an error (with the CLI's stderr). */
export async function ovnetOk (args: readonly string[]): Promise<CliResult> {
  const r = await ovnet(args)
  if (r.code !== 0) throw new Error(`ovnet ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`)
  return r
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on every Linux architecture Node runs on). */
const USER_HZ = 100

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may hold spaces: fields count from the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / USER_HZ
}

/**
 * CPU seconds of a process and its children: its own, its reaped children's (cutime, cstime: the
 * `ip`/`bridge`/`iptables` processes it ran), and those of its children still running (long-lived
 * iproute2 batch processes), so that work moved into a child is not hidden.
 */
export async function treeCpuSeconds (pid: number): Promise<number> {
  const fields = async (p: string): Promise<string[] | undefined> => {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => undefined)
    return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')
  }
  const all = (f: string[]): number => (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / USER_HZ
  const own = await fields(String(pid))
  if (own === undefined) return 0
  let total = all(own)
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue
    const f = await fields(p)
    if (f !== undefined && Number(f[1]) === pid) total += all(f)
  }
  return total
}

/** Resident set size in MiB (VmRSS). */
export async function rssMiB (pid: number): Promise<number> {
  return await statusMiB(pid, 'VmRSS')
}

/**
 * A memory field of /proc/PID/status in MiB. VmRSS = RssAnon (the process's own memory) + RssFile
 * (mapped files: the node binary's ~34 MiB, shared by every node process on the machine) + RssShmem.
 */
export async function statusMiB (pid: number, field: 'VmRSS' | 'RssAnon' | 'RssFile'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)
  if (m === null) throw new Error(`no ${field} for pid ${pid}`)
  return Number(m[1]) / 1024
}

/**
 * `ovnet events --json` of one host, as a CLI process: the first time each endpoint's `attach`
 * event arrives (performance.now() of this process).
 */
export class EventWatcher {
  readonly seen = new Map<string, number>()
  private readonly child: ChildProcess
  private waiters: Array<() => void> = []

  constructor (readonly host: string, socket: string) {
    this.child = spawn(process.execPath, [OVNET_BIN, 'events', '--json', '--socket', socket], { stdio: ['ignore', 'pipe', 'ignore'] })
    createInterface({ input: this.child.stdout! }).on('line', line => {
      const at = performance.now()
      let ev: { Type?: string, Action?: string, Actor?: { ID?: string } }
      try { ev = JSON.parse(line) as typeof ev } catch { return }
      const eid = ev.Actor?.ID
      if (ev.Type !== 'endpoint' || ev.Action !== 'attach' || eid === undefined || this.seen.has(eid)) return
      this.seen.set(eid, at)
      const w = this.waiters
      this.waiters = []
      for (const f of w) f()
    })
  }

  /** Resolves once `eid` was seen (or after `timeoutMs`: false). */
  async waitFor (eid: string, timeoutMs: number): Promise<boolean> {
    const until = performance.now() + timeoutMs
    while (!this.seen.has(eid)) {
      const left = until - performance.now()
      if (left <= 0) return false
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    return true
  }

  stop (): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM')
  }
}

