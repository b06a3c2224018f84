/**
 * The seeded fault schedule: one fault per round, drawn from the seed alone (never from what
 * happened in earlier rounds), so `--seed S --rounds N` replays the same faults on the same hosts.
 * The first rounds are every kind once (in a seeded order): a run of as many rounds as there are
 * kinds covers them all. A schedule is a prefix of every longer schedule of the same seed.
 */
import { Rng } from './rng.js'

export const FAULT_KINDS = [
  /** kill -9 the agent of one host, then start it again with its data dir. */
  'kill9',
  /** SIGTERM (graceful leave: its endpoints are detached), then start it again. */
  'stop-start',
  /** Drop the gossip port (tcp) between two sides of the cluster. */
  'partition-gossip',
  /** Drop the VXLAN port (udp) between two sides: control plane fine, data plane cut. */
  'partition-vxlan',
  /** Random loss (iptables statistic) on all underlay traffic of one host. */
  'loss',
  /** The whole host gone: agent killed and all its underlay traffic dropped; then back. */
  'host-down',
  /** moby#53663: a host cut off until declared failed, dynamic FDB entries learnt meanwhile, heal. */
  'moby53663'
] as const
export type FaultKind = typeof FAULT_KINDS[number]

export function isFaultKind (s: string): s is FaultKind {
  return (FAULT_KINDS as readonly string[]).includes(s)
}

export interface FaultSpec {
  round: number
  kind: FaultKind
  /** The host(s) the fault hits; for partitions, side A. Indexes into the target's hosts. */
  hosts: number[]
  /** For partitions: side B (every host not in side A). */
  others: number[]
  /** For `loss`: drop probability of each packet. */
  lossProbability?: number
  /** How long the fault is held (after it took effect) while the workload runs. */
  holdMs: number
}

export interface ScheduleOptions {
  seed: string
  rounds: number
  hosts: number
  /** Fault kinds to draw from (default: all). */
  kinds?: readonly FaultKind[]
  holdMs: number
  /** Hosts never killed, stopped or taken down (they still take part in partitions and loss). */
  spare?: readonly number[]
  /** Hosts never stopped gracefully (they may still be killed or cut off). */
  neverStopped?: readonly number[]
}

/** Faults that take a host's agent away. */
export const AGENT_FAULTS: readonly FaultKind[] = ['kill9', 'stop-start', 'host-down']

const LOSS_PROBABILITIES = [0.1, 0.2, 0.3] as const

export function makeSchedule (o: ScheduleOptions): FaultSpec[] {
  if (o.hosts < 2) throw new RangeError('chaos needs at least 2 hosts')
  const kinds = o.kinds ?? FAULT_KINDS
  if (kinds.length === 0) throw new RangeError('no fault kinds to draw from')
  const rng = new Rng(o.seed).fork('schedule')
  const all = Array.from({ length: o.hosts }, (_, i) => i)
  // Drawn whatever the number of rounds, so that a schedule is a prefix of any longer one of the
  // same seed: `--rounds 3` replays exactly the first three rounds of a failed `--rounds 50`.
  const first = rng.shuffle(kinds)
  const out: FaultSpec[] = []
  for (let r = 1; r <= o.rounds; r++) {
    const kind = first[r - 1] ?? rng.pick(kinds)
    const spec: FaultSpec = { round: r, kind, hosts: [], others: [], holdMs: o.holdMs }
    if (kind === 'partition-gossip' || kind === 'partition-vxlan') {
      // Side A: 1..n/2 hosts, so side B is never empty and either side may hold the founder.
      const size = rng.int(1, Math.floor(o.hosts / 2))
      const a = rng.shuffle(all).slice(0, size).sort((x, y) => x - y)
      spec.hosts = a
      spec.others = all.filter(h => !a.includes(h))
    } else {
      const spare = [...(AGENT_FAULTS.includes(kind) ? (o.spare ?? []) : []), ...(kind === 'stop-start' ? (o.neverStopped ?? []) : [])]
      const candidates = all.filter(h => !spare.includes(h))
      if (candidates.length === 0) throw new RangeError('every host is spared: nothing to kill')
      spec.hosts = [rng.pick(candidates)]
      spec.others = all.filter(h => h !== spec.hosts[0])
    }
    if (kind === 'loss') spec.lossProbability = rng.pick(LOSS_PROBABILITIES)
    out.push(spec)
  }
  return out
}

/** One line per round, with host labels: "round 3  partition-gossip  [h1,h4] | [h2,h3,h5]". */
export function formatFault (f: FaultSpec, label: (i: number) => string): string {
  const side = (xs: number[]): string => `[${xs.map(label).join(',')}]`
  const what = f.kind.startsWith('partition')
    ? `${side(f.hosts)} | ${side(f.others)}`
    : f.kind === 'loss' ? `${side(f.hosts)} p=${f.lossProbability}` : side(f.hosts)
  return `round ${String(f.round).padStart(3)}  ${f.kind.padEnd(16)} ${what}  hold ${f.holdMs} ms`
}

export function formatSchedule (s: readonly FaultSpec[], label: (i: number) => string): string {
  return s.map(f => formatFault(f, label)).join('\n') + '\n'
}
