/**
 * A chaos run: the seeded schedule, one fault per round, the workload while it holds, the safety
 * invariants during it, and after the heal the time to converge, the model against the hosts'
 * own state, and the ping matrix. Each round ends in a report (JSON + readable); a failing round
 * carries the seed, the schedule and the divergent state, and by default ends the run (later
 * rounds would start from a broken cluster).
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { installChain, listRules, removeChain } from './firewall.js'
import { applyFault, type ActiveFault } from './faults.js'
import { checkConverged, checkSafety, formatViolation, summarize, type Violation } from './invariants.js'
import { avoidance, type Avoidance, type KnownBug } from './known-bugs.js'
import { ClusterModel, type ModelContainer } from './model.js'
import { snapshot, type ClusterSnapshot } from './observe.js'
import { pingCheck, type PingPeer } from './pings.js'
import type { ChaosSummary, RoundReport } from './report.js'
import { replayCommand, summarizeRun, writeRound, writeSummary } from './report.js'
import { Rng } from './rng.js'
import { FAULT_KINDS, formatFault, makeSchedule, type FaultKind, type FaultSpec } from './schedule.js'
import type { ChaosTarget } from './target.js'
import { attach, detach, removeNetwork, runWorkload, seedWorkload, sleep, upHosts, type WorkloadContext } from './workload.js'

export interface ChaosOptions {
  seed: string
  rounds: number
  kinds?: FaultKind[]
  /** How long each fault holds once in effect (workload runs meanwhile). */
  holdMs: number
  /** A stopped or cut-off host's endpoints must leave every peer within this. */
  failureTimeoutMs: number
  /** After a heal, the cluster must converge within this. */
  convergeTimeoutMs: number
  /** Networks created at the start (each with one container per host). */
  networks: number
  maxNetworks: number
  maxContainersPerHost: number
  /** Known bugs to steer around (deploy/chaos/known-bugs.ts); CI avoids them all. */
  avoid: KnownBug[]
  /** Hosts (indexes) never killed, stopped or taken down. */
  spare?: number[]
  /**
   * Reports go here: round-NNN.json/.txt per round, summary.json/.txt at the end, and the agents'
   * logs of a failing round in round-NNN-logs/. Nothing is written when undefined.
   */
  outDir?: string
  /** Continue after a failing round. */
  keepGoing: boolean
  /** Progress lines. */
  log: (line: string) => void
  /** Called with each finished round (write it out, print it). */
  onRound?: (r: RoundReport) => Promise<void> | void
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, 'seed' | 'rounds' | 'log'> = {
  holdMs: 4000,
  failureTimeoutMs: 10_000,
  convergeTimeoutMs: 60_000,
  networks: 2,
  maxNetworks: 3,
  maxContainersPerHost: 2,
  avoid: [],
  keepGoing: false
}

export class ChaosRun {
  readonly schedule: FaultSpec[]
  readonly model = new ClusterModel()
  readonly rounds: RoundReport[] = []
  /** Network names of this run start with it: a real cluster may hold networks of its own. */
  readonly netPrefix = `cx${randomBytes(2).toString('hex')}-`
  private readonly ownNetworkIds = new Set<string>()
  private readonly wctx: WorkloadContext
  private readonly avoid: Avoidance
  /** Per host, the namespace of the availability probe. */
  private readonly probes = new Map<number, string>()

  constructor (readonly target: ChaosTarget, readonly o: ChaosOptions) {
    this.avoid = avoidance(o.avoid)
    const kinds = (o.kinds ?? FAULT_KINDS).filter(k => !this.avoid.excludeKinds.includes(k))
    this.schedule = makeSchedule({ seed: o.seed, rounds: o.rounds, hosts: target.hosts.length, kinds, holdMs: o.holdMs, spare: o.spare ?? [], neverStopped: this.avoid.neverStopped })
    this.wctx = {
      target,
      model: this.model,
      netPrefix: this.netPrefix,
      maxNetworks: o.maxNetworks,
      maxContainersPerHost: o.maxContainersPerHost,
      requestTimeoutMs: 20_000,
      t0: Date.now(),
      ops: [],
      networkSeq: 0,
      createOn: this.avoid.createOn
    }
  }

  label = (i: number): string => this.target.hosts[i]!.label

  /** The target must be set up. Runs every round (or until one fails) and returns the summary. */
  async run (): Promise<ChaosSummary> {
    const t = this.target
    const started = Date.now()
    for (const h of t.hosts) await installChain(t, h.index)
    this.wctx.t0 = Date.now()
    await seedWorkload(this.wctx, this.o.networks)
    this.o.log(`seeded: ${this.model.networks.size} networks, ${this.model.attached().length} endpoints`)
    const settled = await this.converge(Date.now())
    if (settled.violations.length > 0) throw new Error(`the cluster did not converge before the first fault:\n${settled.violations.map(v => `  ${v.invariant}: ${v.detail}`).join('\n')}`)
    for (const f of this.schedule) {
      const r = await this.round(f)
      this.rounds.push(r)
      if (this.o.outDir !== undefined) await writeRound(this.o.outDir, r)
      await this.o.onRound?.(r)
      if (!r.ok && !this.o.keepGoing) break
    }
    const summary = summarizeRun(this, Date.now() - started)
    if (this.o.outDir !== undefined) await writeSummary(this.o.outDir, summary)
    return summary
  }

  /** Detach, remove and delete what the run made (for real clusters; the lab is just destroyed). */
  async cleanup (): Promise<void> {
    const t = this.target
    for (const h of t.hosts) if (!t.agentUp(h.index)) await t.startAgent(h.index).catch(() => {})
    const ctx = { ...this.wctx, ops: [], requestTimeoutMs: 30_000 }
    for (const c of this.model.attached()) await detach(ctx, c).catch(() => {})
    for (const n of [...this.model.networks.keys()]) {
      const host = upHosts(ctx)[0]
      if (host !== undefined) await removeNetwork(ctx, host, n).catch(() => {})
    }
    for (const c of this.model.containers) await t.removeContainer(c.host, c.netns).catch(() => {})
    for (const [host, ns] of this.probes) await t.removeContainer(host, ns).catch(() => {})
    for (const h of t.hosts) await removeChain(t, h.index)
  }

  private async round (f: FaultSpec): Promise<RoundReport> {
    const t = this.target
    const t0 = Date.now()
    const timeline: RoundReport['timeline'] = []
    const note = (event: string): void => { timeline.push({ t: Date.now() - t0, event }); this.o.log(`  [${((Date.now() - t0) / 1000).toFixed(1)}s] ${event}`) }
    const rng = new Rng(this.o.seed).fork(`round-${f.round}`)
    this.o.log(formatFault(f, this.label))
    this.wctx.t0 = t0
    this.wctx.ops = []
    const during: Violation[] = []
    const report: RoundReport = {
      round: f.round, seed: this.o.seed, fault: f, faultText: formatFault(f, this.label), ok: false, replay: replayCommand({ ...this.o, rounds: f.round }, t),
      startedAt: new Date(t0).toISOString(), durationMs: 0, timeline, workload: { ops: this.wctx.ops }, during, violations: []
    }
    // Faults that take a host away are only telling if it has endpoints to lose, cuts only if
    // traffic crosses them, and the ping check only if some network spans two hosts.
    await this.ensureEndpoint(f.hosts[0]!)
    // The moby#53663 replay plants entries of the endpoints the cut-off host shares with others:
    // the workload must not detach them while the cut holds (it found nothing to plant otherwise).
    const pinned = f.kind === 'moby53663' ? this.sharedWith(f.hosts[0]!) : []
    for (const c of pinned) c.pinned = true

    // An error of the kit or the target during the fault (a command that cannot run) fails the
    // round; the fault is healed whatever happened.
    const broken: Violation[] = []
    let fault: ActiveFault | undefined
    try {
      fault = await applyFault({ target: t, netPrefix: this.netPrefix, failureTimeoutMs: this.o.failureTimeoutMs, note }, f)
      report.measures = fault.measures
      // A graceful stop detaches the host's endpoints: they are gone for good, not hidden.
      if (f.kind === 'stop-start') this.model.hostStopped(f.hosts[0]!)
      this.wctx.busy = fault.unreachable
      this.wctx.noRemove = this.avoid.noRemoveDuringCuts && (f.kind === 'partition-gossip' || f.kind === 'moby53663')
      const effect = fault.watch()
      const until = Date.now() + f.holdMs
      const load = runWorkload(this.wctx, rng.fork('workload'), until)
      // Safety holds at every instant: check it halfway through, and again at the end.
      await sleep(f.holdMs / 2)
      during.push(...this.tag('mid-fault', checkSafety(await snapshot(t, { networkPrefix: this.netPrefix, kernel: false }))))
      // allSettled: the workload must be over before the heal, even when the watch failed.
      for (const r of await Promise.allSettled([effect, load])) if (r.status === 'rejected') throw r.reason
      during.push(...this.tag('end of fault', checkSafety(await snapshot(t, { networkPrefix: this.netPrefix, kernel: false }))))
    } catch (err) {
      broken.push({ invariant: 'fault', detail: `the round broke off: ${err instanceof Error ? err.message : String(err)}` })
    } finally {
      this.wctx.busy = undefined
      for (const c of pinned) c.pinned = false
      this.wctx.noRemove = false
    }
    note(`workload: ${this.wctx.ops.length} operations (${count(this.wctx.ops, 'ok')} ok, ${count(this.wctx.ops, 'failed')} refused, ${count(this.wctx.ops, 'unknown')} unknown)`)

    await fault?.heal().catch((err: unknown) => { broken.push({ invariant: 'fault', detail: `healing failed: ${String(err)}` }) })
    const healedAt = Date.now()
    note('healed')
    const conv = await this.converge(healedAt, note)
    report.convergeMs = conv.violations.length === 0 ? conv.ms : undefined
    note(conv.violations.length === 0 ? `converged ${conv.ms} ms after the heal` : `NOT converged ${conv.ms} ms after the heal`)

    const violations: Violation[] = [...broken, ...(fault?.measures.violations ?? []), ...conv.violations]
    violations.push(...this.model.violations.splice(0).map(v => ({ invariant: v.invariant, detail: v.detail })))
    if (conv.violations.length === 0) {
      violations.push(...this.reconcile(conv.snap))
      // The workload may have left no network with two endpoints: make one, converge, then ping.
      const paired = (): boolean => this.pingPeers().some((a, i, all) => all.some((b, j) => j !== i && b.network === a.network))
      const first = upHosts(this.wctx)[0]
      if (!paired() && first !== undefined) {
        await this.ensureEndpoint(first)
        const again = await this.converge(Date.now(), note)
        violations.push(...again.violations)
      }
      report.pings = await pingCheck(t, this.pingPeers(), rng.fork('pings'))
      note(`pings: ${report.pings.pairs - report.pings.unreachable.length}/${report.pings.pairs} inside networks, ${report.pings.crossed.length}/${report.pings.crossPairs} across (${report.pings.ms} ms)`)
      for (const p of report.pings.unreachable) violations.push({ invariant: 'ping', detail: `no answer: ${p}` })
      for (const p of report.pings.crossed) violations.push({ invariant: 'isolation', detail: `crossed networks: ${p}` })
      violations.push(...await this.probeAttach(f.round))
    }
    report.violations = violations
    report.ok = violations.length === 0 && during.length === 0
    report.durationMs = Date.now() - t0
    if (!report.ok) {
      report.divergent = conv.snap
      report.schedule = this.schedule
      report.rules = Object.fromEntries(await Promise.all(t.hosts.map(async h => [h.label, await listRules(t, h.index)] as const)))
      report.logs = Object.fromEntries(await Promise.all(t.hosts.map(async h => [h.label, await t.logTail(h.index, 15)] as const)))
      if (this.o.outDir !== undefined) await t.saveLogs(join(this.o.outDir, `round-${String(f.round).padStart(3, '0')}-logs`)).catch(() => {})
    }
    return report
  }

  private tag (when: string, v: Violation[]): Violation[] {
    return v.map(x => ({ ...x, detail: `${when}: ${x.detail}` }))
  }

  /**
   * Poll snapshots until every convergence invariant holds, or the timeout. `note` hears what
   * still fails whenever that changes, so a slow convergence shows what it waited for.
   */
  private async converge (since: number, note?: (event: string) => void): Promise<{ ms: number, violations: Violation[], snap: ClusterSnapshot }> {
    let last = ''
    for (;;) {
      const snap = await snapshot(this.target, { networkPrefix: this.netPrefix })
      for (const h of snap.hosts) for (const n of h.networks ?? []) this.ownNetworkIds.add(n.Id)
      for (const n of this.model.networks.values()) this.ownNetworkIds.add(n.id)
      const violations = checkConverged(snap, { ownNetworkIds: this.ownNetworkIds })
      const ms = Date.now() - since
      const now = summarize(violations)
      if (now !== last && violations.length > 0) note?.(`waiting for: ${now} (e.g. ${formatViolation(violations[0]!)})`)
      last = now
      if (violations.length === 0 || ms > this.o.convergeTimeoutMs) return { ms, violations, snap }
      await sleep(250)
    }
  }

  /** Settle the model with the converged truth; mismatches the run cannot explain are violations. */
  private reconcile (snap: ClusterSnapshot): Violation[] {
    const v: Violation[] = []
    const first = snap.hosts.find(h => h.up && h.error === undefined)
    if (first === undefined) return v
    const cluster = (first.networks ?? []).map(n => {
      const cfg = first.inspect?.[n.Name]?.IPAM.Config[0]
      return { name: n.Name, id: n.Id, subnet: cfg?.Subnet ?? n.Subnets[0] ?? '', gateway: cfg?.Gateway ?? '' }
    })
    for (const p of this.model.reconcileNetworks(cluster)) v.push({ invariant: 'model', detail: p })
    for (const h of snap.hosts) {
      if (!h.up || h.error !== undefined) continue
      const truth = new Map(Object.entries(h.inspect ?? {}))
      for (const p of this.model.reconcile(h.index, truth)) v.push({ invariant: 'model', host: h.label, detail: p })
    }
    v.push(...this.model.violations.splice(0).map(x => ({ invariant: x.invariant, detail: x.detail })))
    return v
  }

  private pingPeers (): PingPeer[] {
    return this.model.attached()
      .filter(c => this.target.agentUp(c.host) && c.ip !== undefined)
      .map(c => ({ name: c.name, host: c.host, netns: c.netns, ip: c.ip!, network: c.network! }))
  }

  /**
   * Availability once converged: every running host can attach to (and detach from) a network of
   * the run. A probe container per host, outside the model, attached and detached again.
   */
  private async probeAttach (round: number): Promise<Violation[]> {
    const v: Violation[] = []
    const networks = this.model.usable()
    if (networks.length === 0) return v
    const t = this.target
    await Promise.all(t.hosts.filter(h => t.agentUp(h.index)).map(async h => {
      const network = networks[(h.index + round) % networks.length]!
      let ns = this.probes.get(h.index)
      if (ns === undefined) {
        ns = await t.createContainer(h.index, `${h.label.toLowerCase().replace(/[^a-z0-9-]/g, '')}-probe`)
        this.probes.set(h.index, ns)
      }
      try {
        await t.api(h.index).attach(network, { Netns: ns, Name: `${h.label}-probe` })
      } catch (err) {
        v.push({ invariant: 'availability', host: h.label, network, detail: `attach refused after convergence: ${String(err)}` })
        return
      }
      await t.api(h.index).detach(network, { Netns: ns }).catch((err: unknown) => {
        v.push({ invariant: 'availability', host: h.label, network, detail: `detach refused after convergence: ${String(err)}` })
      })
    }))
    return v
  }

  /**
   * Give host i an endpoint in a network where another running host has one too, so that a
   * fault taking i away has something to take from the others (and the moby#53663 replay has
   * FDB entries on both sides).
   */
  /** Attached containers in the networks where host i has an endpoint (its own included). */
  private sharedWith (i: number): ModelContainer[] {
    const nets = new Set(this.model.attached().filter(c => c.host === i).map(c => c.network))
    return this.model.attached().filter(c => nets.has(c.network))
  }

  private async ensureEndpoint (i: number): Promise<void> {
    const ctx = { ...this.wctx, ops: [] }
    const shared = (): boolean => this.model.attached().some(c => c.host === i && this.model.attached(c.network).some(o => o.host !== i && this.target.agentUp(o.host)))
    if (shared()) return
    // Attach a container of `host` to `network`; when the host has no free container, one of its
    // attached ones is moved (never out of a network this very step needs).
    const place = async (host: number, network: string): Promise<boolean> => {
      if (this.model.attached(network).some(c => c.host === host)) return true
      if (this.model.containers.filter(c => c.host === host).length >= this.o.maxContainersPerHost &&
        !this.model.containers.some(c => c.host === host && c.network === undefined)) {
        const mover = this.model.attached().find(c => c.host === host && c.network !== network)
        if (mover !== undefined) await detach(ctx, mover)
      }
      return await attach(ctx, host, network)
    }
    const others = upHosts(ctx).filter(h => h !== i)
    for (const network of this.model.usable()) {
      if (!await place(i, network)) continue
      if (!this.model.attached(network).some(c => c.host !== i && this.target.agentUp(c.host))) {
        for (const o of others) if (await place(o, network)) break
      }
      if (shared()) return
    }
    this.o.log(`  could not give ${this.label(i)} an endpoint in a network shared with another host`)
  }
}

function count (ops: ReadonlyArray<{ outcome: string }>, outcome: string): number {
  return ops.filter(o => o.outcome === outcome).length
}
