/**
 * Round and run reports: the JSON (everything, including on failure the divergent snapshot, the
 * firewall rules and the agents' last log lines) and a readable summary. The readable text of a
 * failing round starts with how to replay it.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FaultMeasures } from './faults.js'
import { formatViolation, summarize, type Violation } from './invariants.js'
import type { ClusterSnapshot } from './observe.js'
import type { PingResult } from './pings.js'
import { formatSchedule, type FaultSpec } from './schedule.js'
import type { ChaosTarget } from './target.js'
import type { WorkloadOp } from './workload.js'

export interface RoundReport {
  round: number
  seed: string
  fault: FaultSpec
  faultText: string
  ok: boolean
  /** The command that replays the run up to this round. */
  replay: string
  startedAt: string
  durationMs: number
  timeline: Array<{ t: number, event: string }>
  workload: { ops: WorkloadOp[] }
  /** Safety violations seen while the fault held. */
  during: Violation[]
  measures?: FaultMeasures
  /** From the heal to the first snapshot where every convergence invariant held; absent if never. */
  convergeMs?: number
  pings?: PingResult
  /** After the heal: convergence, model, pings, fault-specific. */
  violations: Violation[]
  /** On failure: the last snapshot, the schedule, the firewall rules and log tails per host. */
  divergent?: ClusterSnapshot
  schedule?: FaultSpec[]
  rules?: Record<string, string[]>
  logs?: Record<string, string>
}

export interface Stat { n: number, p50: number | null, max: number | null }

export interface ChaosSummary {
  seed: string
  target: string
  hosts: string[]
  roundsPlanned: number
  roundsRun: number
  failed: number[]
  ok: boolean
  durationMs: number
  /** Time to converge after each heal. */
  convergeMs: Stat
  /** A stopped/killed/cut-off host's endpoints leaving every peer. */
  detectionMs: Stat
  /** Each side of a cut declaring the other failed. */
  declaredFailedMs: Stat
  workload: { ok: number, failed: number, unknown: number }
  replay: string
}

export function stat (xs: ReadonlyArray<number | undefined>): Stat {
  const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b)
  if (v.length === 0) return { n: 0, p50: null, max: null }
  return { n: v.length, p50: v[Math.floor((v.length - 1) / 2)]!, max: v[v.length - 1]! }
}

export interface ReplayParams { seed: string, rounds: number, kinds?: readonly string[] | undefined, holdMs: number, avoid?: readonly string[], spare?: readonly number[] | undefined }

/** The command line that draws the same schedule (the first `rounds` rounds of it). */
export function replayCommand (p: ReplayParams, target: ChaosTarget): string {
  const where = target.kind === 'lab' ? `--hosts ${target.hosts.length}` : '--target ssh --hosts-file FILE'
  const kinds = p.kinds === undefined ? '' : ` --faults ${p.kinds.join(',')}`
  const avoid = p.avoid === undefined || p.avoid.length === 0 ? '' : ` --avoid ${p.avoid.join(',')}`
  const spare = p.spare === undefined || p.spare.length === 0 ? '' : ` --spare ${p.spare.map(i => target.hosts[i]!.label).join(',')}`
  return `npm run chaos -- --seed ${p.seed} --rounds ${p.rounds} ${where} --hold-ms ${p.holdMs}${kinds}${avoid}${spare}`
}

export function summarizeRun (run: { target: ChaosTarget, o: ReplayParams, rounds: readonly RoundReport[] }, durationMs: number): ChaosSummary {
  const ops = run.rounds.flatMap(r => r.workload.ops)
  const failed = run.rounds.filter(r => !r.ok).map(r => r.round)
  return {
    seed: run.o.seed,
    target: run.target.kind,
    hosts: run.target.hosts.map(h => `${h.label}=${h.ip}`),
    roundsPlanned: run.o.rounds,
    roundsRun: run.rounds.length,
    failed,
    ok: failed.length === 0 && run.rounds.length === run.o.rounds,
    durationMs,
    convergeMs: stat(run.rounds.map(r => r.convergeMs)),
    detectionMs: stat(run.rounds.map(r => r.measures?.detectionMs)),
    declaredFailedMs: stat(run.rounds.map(r => r.measures?.declaredFailedMs)),
    workload: { ok: ops.filter(o => o.outcome === 'ok').length, failed: ops.filter(o => o.outcome === 'failed').length, unknown: ops.filter(o => o.outcome === 'unknown').length },
    replay: replayCommand(run.o, run.target)
  }
}

const ms = (x: number | null | undefined): string => (x === null || x === undefined ? '-' : `${x} ms`)

function hostTable (s: ClusterSnapshot): string {
  const rows = s.hosts.map(h => {
    if (!h.up) return `  ${h.label.padEnd(8)} agent down`
    if (h.error !== undefined) return `  ${h.label.padEnd(8)} NOT ANSWERING: ${h.error}`
    const alive = (h.members ?? []).filter(m => m.Status === 'alive').length
    const nets = Object.entries(h.inspect ?? {}).map(([n, i]) => `${n}:${Object.keys(i.Containers).length}/${i.Endpoints?.length ?? 0}`).join(' ')
    const sbs = Object.entries(h.sandboxes ?? {}).map(([sb, v]) => `${sb.slice(-12)}(fdb ${v.fdb.length}, neigh ${v.neigh.length})`).join(' ')
    return `  ${h.label.padEnd(8)} alive ${alive}/${h.members?.length ?? 0}  networks local/seen ${nets || '-'}  sandboxes ${sbs || '-'}`
  })
  return rows.join('\n')
}

export function formatRound (r: RoundReport): string {
  const lines: string[] = []
  lines.push(`${r.ok ? 'OK  ' : 'FAIL'} ${r.faultText}  (${(r.durationMs / 1000).toFixed(1)} s)`)
  const m = r.measures
  const facts = [
    m?.detectionMs !== undefined ? `endpoints gone from peers ${m.detectionMs} ms` : undefined,
    m?.declaredFailedMs !== undefined ? `declared failed ${m.declaredFailedMs} ms` : undefined,
    m?.restartMs !== undefined ? `agent restart ${m.restartMs} ms` : undefined,
    m?.planted !== undefined ? `learnt FDB entries planted ${m.planted}` : undefined,
    `converged ${r.convergeMs === undefined ? 'NEVER' : `${r.convergeMs} ms`} after heal`,
    r.pings !== undefined ? `pings ${r.pings.pairs - r.pings.unreachable.length}/${r.pings.pairs}, crossed ${r.pings.crossed.length}/${r.pings.crossPairs}` : undefined,
    `workload ${r.workload.ops.length} ops`
  ].filter(x => x !== undefined)
  lines.push(`     ${facts.join('; ')}`)
  if (!r.ok) {
    lines.push(`     replay: ${r.replay}`)
    const all = [...r.during, ...r.violations]
    lines.push(`     violations (${summarize(all)}):`)
    for (const v of all.slice(0, 40)) lines.push(`       ${formatViolation(v)}`)
    if (all.length > 40) lines.push(`       … ${all.length - 40} more in the JSON report`)
    if (r.schedule !== undefined) lines.push('     schedule:', ...formatSchedule(r.schedule, i => `#${i}`).trimEnd().split('\n').map(l => `       ${l}`))
    lines.push('     timeline:', ...r.timeline.map(e => `       ${(e.t / 1000).toFixed(1).padStart(6)}s ${e.event}`))
    if (r.divergent !== undefined) lines.push('     state at the end (per host):', hostTable(r.divergent).split('\n').map(l => `   ${l}`).join('\n'))
    for (const [h, rules] of Object.entries(r.rules ?? {})) if (rules.length > 0) lines.push(`     firewall ${h}: ${rules.join(' | ')}`)
  }
  return lines.join('\n') + '\n'
}

export function formatSummary (s: ChaosSummary): string {
  return [
    `chaos ${s.ok ? 'PASSED' : 'FAILED'}: seed ${s.seed}, ${s.roundsRun}/${s.roundsPlanned} rounds on ${s.target} (${s.hosts.length} hosts) in ${(s.durationMs / 1000).toFixed(0)} s`,
    `  converge after heal   p50 ${ms(s.convergeMs.p50)}, max ${ms(s.convergeMs.max)} (${s.convergeMs.n} rounds)`,
    `  failed host detected  p50 ${ms(s.detectionMs.p50)}, max ${ms(s.detectionMs.max)} (${s.detectionMs.n} rounds)`,
    `  partition declared    p50 ${ms(s.declaredFailedMs.p50)}, max ${ms(s.declaredFailedMs.max)} (${s.declaredFailedMs.n} rounds)`,
    `  workload              ${s.workload.ok} ok, ${s.workload.failed} refused, ${s.workload.unknown} unknown outcome`,
    s.failed.length > 0 ? `  failed rounds: ${s.failed.join(', ')}; replay: ${s.replay}` : `  replay: ${s.replay}`
  ].join('\n') + '\n'
}

/** round-NNN.json / round-NNN.txt, and summary.json / summary.txt. */
export async function writeRound (dir: string, r: RoundReport): Promise<void> {
  await mkdir(dir, { recursive: true })
  const base = join(dir, `round-${String(r.round).padStart(3, '0')}`)
  await writeFile(`${base}.json`, JSON.stringify(r, null, 2) + '\n')
  await writeFile(`${base}.txt`, formatRound(r))
}

export async function writeSummary (dir: string, s: ChaosSummary): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'summary.json'), JSON.stringify(s, null, 2) + '\n')
  await writeFile(join(dir, 'summary.txt'), formatSummary(s))
}
