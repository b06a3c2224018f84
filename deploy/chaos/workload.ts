/**
 * The workload run while a fault holds: attaches and detaches on every host whose agent is up
 * (round robin, so each gets its share), networks created (pool chosen by the IPAM: that is what
 * can go wrong in a partition) and removed (drained first). Operations may fail during a fault —
 * that is availability, not safety; an error the agent answered means "not done", anything else
 * (a timeout, a dropped connection) means "unknown" and the model marks it uncertain until the
 * next reconciliation with the hosts' own state.
 */
import { ApiError, type ApiClient } from '../../agent/index.js'
import type { ClusterModel, ModelContainer } from './model.js'
import type { Rng } from './rng.js'
import type { ChaosTarget } from './target.js'

export type OpKind = 'attach' | 'detach' | 'create' | 'remove'

export interface WorkloadOp {
  /** ms since the round started. */
  t: number
  host: string
  op: OpKind
  subject: string
  outcome: 'ok' | 'failed' | 'unknown'
  error?: string
  ms: number
}

export interface WorkloadContext {
  target: ChaosTarget
  model: ClusterModel
  /** Network names of the run start with this (`cx1a2b-`). */
  netPrefix: string
  maxNetworks: number
  maxContainersPerHost: number
  /** A request not answered within this has an unknown outcome. */
  requestTimeoutMs: number
  /** Round start, for op times. */
  t0: number
  ops: WorkloadOp[]
  /** Hosts of the run the fault may make unreachable: no operation is sent there. */
  busy?: ReadonlySet<number>
  /** Sequence of network names (`<prefix>n<seq>`), shared by all rounds of the run. */
  networkSeq: number
  /** No network removal now (known bug 'remove-during-cut'). */
  noRemove?: boolean
  /** Networks are created on these hosts only (known bug 'creator-leaves'); undefined: any. */
  createOn?: number[] | undefined
}

class RequestTimeout extends Error {}

async function within<T> (ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => { reject(new RequestTimeout(`no answer within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** Run one operation, record it; true when it succeeded. `uncertain` is called on an unknown outcome. */
async function record (ctx: WorkloadContext, host: number, op: OpKind, subject: string, fn: () => Promise<void>, uncertain: () => void): Promise<boolean> {
  const started = Date.now()
  const entry: WorkloadOp = { t: started - ctx.t0, host: ctx.target.hosts[host]!.label, op, subject, outcome: 'ok', ms: 0 }
  try {
    await within(ctx.requestTimeoutMs, fn())
  } catch (err) {
    entry.outcome = err instanceof ApiError ? 'failed' : 'unknown'
    entry.error = err instanceof Error ? err.message : String(err)
    if (entry.outcome === 'unknown') uncertain()
  }
  entry.ms = Date.now() - started
  ctx.ops.push(entry)
  return entry.outcome === 'ok'
}

function api (ctx: WorkloadContext, host: number): ApiClient { return ctx.target.api(host) }

export function upHosts (ctx: WorkloadContext): number[] {
  return ctx.target.hosts.map(h => h.index).filter(i => ctx.target.agentUp(i) && ctx.busy?.has(i) !== true)
}

async function containerFor (ctx: WorkloadContext, host: number): Promise<ModelContainer | undefined> {
  const mine = ctx.model.containers.filter(c => c.host === host)
  const free = mine.find(c => c.network === undefined && c.uncertain !== true && c.busy !== true)
  if (free !== undefined) return free
  if (mine.length >= ctx.maxContainersPerHost) return undefined
  const label = ctx.target.hosts[host]!.label.toLowerCase().replace(/[^a-z0-9-]/g, '')
  const c: ModelContainer = { host, name: `${label}-c${mine.length + 1}`, netns: '', busy: true }
  ctx.model.containers.push(c)
  try {
    c.netns = await ctx.target.createContainer(host, c.name)
  } catch (err) {
    ctx.model.containers.splice(ctx.model.containers.indexOf(c), 1)
    throw err
  } finally {
    c.busy = false
  }
  return c
}

/** Run `fn` with the container marked busy, unless another operation holds it. */
async function holding (c: ModelContainer, fn: () => Promise<boolean>): Promise<boolean> {
  if (c.busy === true || c.pinned === true) return false
  c.busy = true
  try { return await fn() } finally { c.busy = false }
}

export async function attach (ctx: WorkloadContext, host: number, network: string): Promise<boolean> {
  const c = await containerFor(ctx, host)
  if (c === undefined) return false
  return await holding(c, async () => {
    if (c.network !== undefined || ctx.model.removing.has(network)) return false
    return await record(ctx, host, 'attach', `${c.name} -> ${network}`, async () => {
      const r = await api(ctx, host).attach(network, { Netns: c.netns, Name: c.name })
      ctx.model.recordAttach(c, network, r)
    }, () => { c.uncertain = true })
  })
}

export async function detach (ctx: WorkloadContext, c: ModelContainer): Promise<boolean> {
  return await holding(c, async () => {
    const network = c.network
    if (network === undefined) return false
    return await record(ctx, c.host, 'detach', `${c.name} <- ${network}`, async () => {
      await api(ctx, c.host).detach(network, { Netns: c.netns })
      ctx.model.recordDetach(c)
    }, () => { c.uncertain = true })
  })
}

export async function createNetwork (ctx: WorkloadContext, host: number): Promise<string | undefined> {
  const name = `${ctx.netPrefix}n${++ctx.networkSeq}`
  const ok = await record(ctx, host, 'create', name, async () => {
    const { Id } = await api(ctx, host).createNetwork({ Name: name })
    const ins = await api(ctx, host).inspectNetwork(Id)
    const cfg = ins.IPAM.Config[0]
    ctx.model.addNetwork({ name, id: Id, subnet: cfg?.Subnet ?? '', gateway: cfg?.Gateway ?? '' })
  }, () => { ctx.model.uncertainNetworks.add(name) })
  return ok ? name : undefined
}

/** Detach every endpoint of the network (each on its own host), then remove it from `host`. */
export async function removeNetwork (ctx: WorkloadContext, host: number, network: string): Promise<boolean> {
  if (ctx.model.removing.has(network)) return false
  ctx.model.removing.add(network)
  try {
    const up = new Set(upHosts(ctx))
    const members = ctx.model.attached(network)
    if (members.some(c => !up.has(c.host) || c.uncertain === true)) return false
    for (const c of members) if (!await detach(ctx, c)) return false
    return await record(ctx, host, 'remove', network, async () => {
      await api(ctx, host).removeNetwork(network)
      ctx.model.networkRemoved(network)
    }, () => { ctx.model.uncertainNetworks.add(network) })
  } finally {
    ctx.model.removing.delete(network)
  }
}

/**
 * One random operation on `host`. Mostly attaches and detaches (keeping about half the
 * containers attached, so that the ping matrix has something to prove); now and then a network
 * is created or drained and removed.
 */
export async function step (ctx: WorkloadContext, rng: Rng, host: number): Promise<void> {
  const networks = ctx.model.usable()
  const mine = ctx.model.containers.filter(c => c.host === host)
  const attachedHere = mine.filter(c => c.network !== undefined && c.uncertain !== true && c.busy !== true)
  const roll = rng.next()
  if (roll < 0.06 && ctx.model.networks.size < ctx.maxNetworks && (ctx.createOn === undefined || ctx.createOn.includes(host))) {
    await createNetwork(ctx, host)
  } else if (roll < 0.1 && networks.length > 1 && ctx.noRemove !== true) {
    await removeNetwork(ctx, host, rng.pick(networks))
  } else if (networks.length > 0 && attachedHere.length < ctx.maxContainersPerHost && (attachedHere.length === 0 || roll < 0.65)) {
    await attach(ctx, host, rng.pick(networks))
  } else if (attachedHere.length > 0) {
    await detach(ctx, rng.pick(attachedHere))
  }
}

/**
 * Operations until `untilMs` (epoch ms): one sequential stream per host, the hosts in parallel,
 * so that a host whose requests hang (cut off, losing packets) does not starve the others.
 */
export async function runWorkload (ctx: WorkloadContext, rng: Rng, untilMs: number, paceMs = 200): Promise<void> {
  await Promise.all(ctx.target.hosts.map(async h => {
    const hostRng = rng.fork(h.label)
    while (Date.now() < untilMs) {
      if (upHosts(ctx).includes(h.index)) await step(ctx, hostRng, h.index)
      await sleep(paceMs)
    }
  }))
}

/** The starting point of every run: `networks` networks, one container per host in each. */
export async function seedWorkload (ctx: WorkloadContext, networks: number): Promise<void> {
  const hosts = upHosts(ctx)
  const creators = ctx.createOn ?? hosts
  for (let n = 0; n < networks; n++) {
    const name = await createNetwork(ctx, creators[n % creators.length]!)
    if (name === undefined) throw new Error(`creating the initial network failed: ${ctx.ops.at(-1)?.error ?? '?'}`)
  }
  for (const name of ctx.model.networks.keys()) {
    for (const h of hosts) {
      if (ctx.model.containers.filter(c => c.host === h).length >= ctx.maxContainersPerHost) continue
      // the definition travels by gossip: a host may not know the network for a moment
      for (let tries = 0; ; tries++) {
        if (await attach(ctx, h, name)) break
        if (tries >= 20) throw new Error(`initial attach on ${ctx.target.hosts[h]!.label} to ${name} failed: ${ctx.ops.at(-1)?.error ?? '?'}`)
        await sleep(250)
      }
    }
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
