/**
 * Ping every target from every other target, each from inside its own namespace: the lab's
 * proof of connectivity (and, between two overlay networks, of isolation).
 */
import { execIn } from './netns.js'

export interface PingTarget {
  /** Label in the matrix, e.g. "h1/c1". */
  name: string
  /** Namespace to ping from. */
  ns: string
  /** Address others ping. */
  ip: string
}

export type PingMatrix = Map<string, Map<string, boolean>>

/** Two cores on the lab machines: a few pings at a time keep the timings honest. */
const CONCURRENCY = 6

export async function pingMatrix (targets: readonly PingTarget[], opts: { timeoutS?: number } = {}): Promise<PingMatrix> {
  const jobs: Array<{ from: PingTarget, to: PingTarget }> = []
  for (const from of targets) for (const to of targets) if (from !== to) jobs.push({ from, to })
  const out: PingMatrix = new Map(targets.map(t => [t.name, new Map<string, boolean>()]))
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const { from, to } = jobs[next++]!
      const r = await execIn(from.ns, 'ping', ['-c', '1', '-W', String(opts.timeoutS ?? 2), '-q', to.ip])
      out.get(from.name)!.set(to.name, r.code === 0)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker))
  return out
}

/** Rows: from; columns: to; "ok", "--" (no answer) or "·" (self). */
export function formatPingMatrix (targets: readonly PingTarget[], m: PingMatrix): string {
  const names = targets.map(t => t.name)
  const w = Math.max(4, ...names.map(n => n.length)) + 2
  const head = ''.padEnd(w) + names.map(n => n.padEnd(w)).join('')
  const rows = names.map(from => from.padEnd(w) + names.map(to => (from === to ? '·' : (m.get(from)?.get(to) === true ? 'ok' : '--')).padEnd(w)).join(''))
  return [head, ...rows].map(l => l.trimEnd()).join('\n') + '\n'
}

/** Every pair answered. */
export function allReachable (m: PingMatrix): boolean {
  return [...m.values()].every(row => [...row.values()].every(Boolean))
}
