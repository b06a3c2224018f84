/**
 * Applying one scheduled fault and healing it. Each kind is a few target operations and
 * firewall cuts; what a fault must show while it holds (a killed host's endpoints leaving every
 * peer in time, a partitioned side being declared failed, the planted moby#53663 entries) is
 * measured here and handed to the round.
 */
import { applyCut, removeCut, type AppliedCut } from './firewall.js'
import type { Violation } from './invariants.js'
import { readSandboxes, sandboxName } from './observe.js'
import type { FaultSpec } from './schedule.js'
import type { ChaosTarget } from './target.js'
import { sleep } from './workload.js'

export interface FaultContext {
  target: ChaosTarget
  netPrefix: string
  failureTimeoutMs: number
  /** Timeline of the round. */
  note: (event: string) => void
}

export interface ActiveFault {
  /** Hosts whose agent the fault took down (no workload there). */
  down: Set<number>
  /** Hosts cut off the underlay: the workload would only time out there. */
  unreachable: Set<number>
  /** Measurements and fault-specific violations, filled while the fault holds. */
  measures: FaultMeasures
  /** Runs while the workload does: waits for the fault's effect and measures it. */
  watch: () => Promise<void>
  /** Undo the fault; resolves when the agents are up again and the rules gone. */
  heal: () => Promise<void>
}

export interface FaultMeasures {
  /** Until a stopped/killed/cut-off host's endpoints left every peer's view and kernel. */
  detectionMs?: number
  /** Until each side of a cut saw the other side failed. */
  declaredFailedMs?: number
  /** Dynamic FDB entries planted (moby#53663). */
  planted?: number
  /** Agent restart time (start to answering). */
  restartMs?: number
  violations: Violation[]
}

/** Peers (live, not in `hosts`) whose API view or kernel still holds an endpoint of `node`. */
async function stillHolding (t: ChaosTarget, prefix: string, node: string, vtep: string, peers: readonly number[]): Promise<string[]> {
  const holding: string[] = []
  await Promise.all(peers.map(async i => {
    try {
      const api = t.api(i)
      for (const n of (await api.listNetworks()).filter(x => x.Name.startsWith(prefix))) {
        const ins = await api.inspectNetwork(n.Id, true).catch(() => undefined)
        if (ins?.Endpoints?.some(e => e.Node === node) === true) { holding.push(`${t.hosts[i]!.label} (view of ${n.Name})`); return }
      }
      const sandboxes = await readSandboxes(t, i)
      for (const [sb, v] of Object.entries(sandboxes)) {
        if (v.fdb.some(r => r.dst === vtep)) { holding.push(`${t.hosts[i]!.label} (fdb of ${sb})`); return }
      }
    } catch (err) {
      holding.push(`${t.hosts[i]!.label} (unreadable: ${String(err)})`)
    }
  }))
  return holding.sort()
}

/** Poll until no peer holds the host's endpoints; a violation if it takes longer than the failure timeout. */
async function measureGone (c: FaultContext, host: number, peers: readonly number[], since: number, m: FaultMeasures, what: string): Promise<void> {
  const t = c.target
  const deadline = since + c.failureTimeoutMs + 5000
  let holding: string[] = []
  for (;;) {
    holding = await stillHolding(t, c.netPrefix, t.nodeName(host), t.hosts[host]!.ip, peers)
    if (holding.length === 0) break
    if (Date.now() > deadline) break
    await sleep(200)
  }
  if (holding.length > 0) {
    m.violations.push({ invariant: 'failure-timeout', host: t.hosts[host]!.label, detail: `${what}: its endpoints are still held ${Date.now() - since} ms later by ${holding.join(', ')}` })
    return
  }
  m.detectionMs = Date.now() - since
  c.note(`${t.hosts[host]!.label}'s endpoints gone from every peer after ${m.detectionMs} ms`)
  if (m.detectionMs > c.failureTimeoutMs) {
    m.violations.push({ invariant: 'failure-timeout', host: t.hosts[host]!.label, detail: `${what}: endpoints left the peers after ${m.detectionMs} ms, over the failure timeout of ${c.failureTimeoutMs} ms` })
  }
}

/** Poll until every host of `a` sees every host of `b` not alive, and the other way round. */
async function measureDeclaredFailed (c: FaultContext, a: readonly number[], b: readonly number[], since: number, m: FaultMeasures): Promise<void> {
  const t = c.target
  const deadline = since + c.failureTimeoutMs + 5000
  const sees = async (from: number, others: readonly number[]): Promise<boolean> => {
    const members = await t.api(from).members().catch(() => undefined)
    if (members === undefined) return false
    const names = new Set(others.map(o => t.nodeName(o)))
    return members.every(x => !names.has(x.Name) || x.Status !== 'alive')
  }
  for (;;) {
    const views = await Promise.all([...a.map(async i => await sees(i, b)), ...b.map(async i => await sees(i, a))])
    if (views.every(Boolean)) break
    if (Date.now() > deadline) {
      m.violations.push({ invariant: 'failure-timeout', detail: `the two sides did not declare each other failed within ${Date.now() - since} ms` })
      return
    }
    await sleep(200)
  }
  m.declaredFailedMs = Date.now() - since
  c.note(`both sides declared the other failed after ${m.declaredFailedMs} ms`)
}

/**
 * moby#53663: while the host is cut off and declared failed, every peer's kernel "learns" a
 * dynamic FDB entry for each of its endpoints' MACs (learning is off on ovnet's vxlan, so we add
 * them as the kernel would: `bridge fdb add … dynamic`), and the host learns its peers' likewise.
 * Docker then failed the re-add with EEXIST on heal; ovnet must replace them.
 */
async function plantLearnt (c: FaultContext, host: number, peers: readonly number[], m: FaultMeasures): Promise<void> {
  const t = c.target
  const api = t.api(peers[0]!)
  let planted = 0
  for (const n of (await api.listNetworks()).filter(x => x.Name.startsWith(c.netPrefix))) {
    // The cut-off host's own view still lists everything (it sees the others failed, not itself).
    const ins = await t.api(host).inspectNetwork(n.Id, true).catch(() => undefined)
    const own = Object.values(ins?.Containers ?? {})
    const inNetwork = new Set<number>()
    for (const p of peers) {
      const pins = await t.api(p).inspectNetwork(n.Id, false).catch(() => undefined)
      if (pins !== undefined && Object.keys(pins.Containers).length > 0) inNetwork.add(p)
    }
    const plans: Array<{ on: number, mac: string, dst: string }> = []
    for (const p of inNetwork) for (const e of own) plans.push({ on: p, mac: e.MacAddress.toLowerCase(), dst: t.hosts[host]!.ip })
    if (own.length > 0) {
      for (const p of inNetwork) {
        const pins = await t.api(p).inspectNetwork(n.Id, false)
        for (const e of Object.values(pins.Containers)) plans.push({ on: host, mac: e.MacAddress.toLowerCase(), dst: t.hosts[p]!.ip })
      }
    }
    for (const plan of plans) {
      const sb = sandboxName(t.nodeName(plan.on), n.Id)
      // `replace`, not `add`: if the agent has not yet removed its entry, turn it into a learnt one.
      const r = await t.exec(plan.on, ['bridge', 'fdb', 'replace', plan.mac, 'dev', 'vxlan0', 'dst', plan.dst, 'self', 'dynamic'], { netns: sb })
      if (r.code === 0) planted++
      else c.note(`could not plant ${plan.mac} on ${t.hosts[plan.on]!.label}: ${r.stderr.trim()}`)
    }
  }
  m.planted = planted
  c.note(`planted ${planted} dynamic (learnt) FDB entries`)
  if (planted === 0) m.violations.push({ invariant: 'moby53663', detail: 'no dynamic FDB entry could be planted: the replay proves nothing (no shared network?)' })
}

async function timed (fn: () => Promise<void>): Promise<number> {
  const s = Date.now()
  await fn()
  return Date.now() - s
}

export function applyFault (c: FaultContext, f: FaultSpec): Promise<ActiveFault> {
  const t = c.target
  const x = f.hosts[0]!
  const m: FaultMeasures = { violations: [] }
  const base = { measures: m, down: new Set<number>(), unreachable: new Set<number>() }
  const cut = async (kind: Parameters<typeof applyCut>[1], a: readonly number[], b: readonly number[]): Promise<AppliedCut> =>
    await applyCut(t, kind, a, b, `r${f.round}`)
  const restart = async (): Promise<void> => { m.restartMs = await timed(async () => { await t.startAgent(x) }); c.note(`${t.hosts[x]!.label} agent answering after ${m.restartMs} ms`) }

  const run = async (): Promise<ActiveFault> => {
    const since = Date.now()
    switch (f.kind) {
      case 'kill9':
        await t.killAgent(x)
        c.note(`${t.hosts[x]!.label} agent killed (SIGKILL)`)
        return { ...base, down: new Set([x]), watch: async () => { await measureGone(c, x, f.others, since, m, 'killed agent') }, heal: restart }
      case 'stop-start':
        await t.stopAgent(x)
        c.note(`${t.hosts[x]!.label} agent stopped (SIGTERM)`)
        return { ...base, down: new Set([x]), watch: async () => { await measureGone(c, x, f.others, since, m, 'stopped agent') }, heal: restart }
      case 'host-down': {
        const rules = await cut({ kind: 'isolate' }, [x], f.others)
        await t.killAgent(x)
        c.note(`${t.hosts[x]!.label} down: underlay cut, agent killed`)
        return {
          ...base,
          down: new Set([x]),
          unreachable: new Set([x]),
          watch: async () => { await measureGone(c, x, f.others, since, m, 'host down') },
          heal: async () => { await removeCut(t, rules); await restart() }
        }
      }
      case 'partition-gossip':
      case 'partition-vxlan': {
        const port = f.kind === 'partition-gossip' ? t.gossipPort : t.vxlanPort
        const rules = await cut({ kind: f.kind === 'partition-gossip' ? 'gossip' : 'vxlan', port }, f.hosts, f.others)
        c.note(`${f.kind}: ${f.hosts.map(i => t.hosts[i]!.label).join(',')} | ${f.others.map(i => t.hosts[i]!.label).join(',')}`)
        return {
          ...base,
          watch: async () => { if (f.kind === 'partition-gossip') await measureDeclaredFailed(c, f.hosts, f.others, since, m) },
          heal: async () => { await removeCut(t, rules) }
        }
      }
      case 'loss': {
        const rules = await cut({ kind: 'loss', probability: f.lossProbability ?? 0.2 }, [x], f.others)
        c.note(`${t.hosts[x]!.label}: ${(f.lossProbability ?? 0.2) * 100}% loss to and from every peer`)
        return { ...base, watch: async () => {}, heal: async () => { await removeCut(t, rules) } }
      }
      case 'moby53663': {
        const rules = await cut({ kind: 'isolate' }, [x], f.others)
        c.note(`${t.hosts[x]!.label} cut off (agent running)`)
        return {
          ...base,
          unreachable: new Set([x]),
          watch: async () => {
            await measureDeclaredFailed(c, [x], f.others, since, m)
            await measureGone(c, x, f.others, since, m, 'cut-off host')
            await plantLearnt(c, x, f.others, m)
          },
          heal: async () => { await removeCut(t, rules) }
        }
      }
    }
  }
  return run()
}
