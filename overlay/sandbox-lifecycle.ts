/**
 * The lifecycle of the overlay's per-network sandboxes on this host: find a previous run's
 * sandboxes at start, adopt (or rebuild) one when its network's first endpoint joins, build a new
 * one otherwise, and remove it with the last leave; previous-run sandboxes nothing claims within
 * the grace period (or by restoreComplete) are removed. Split out of the overlay driver, which
 * keeps the networks, endpoints and peer events; the `*Locked` methods run under the network's
 * kernel lock held exclusively by the caller.
 */
import type { Clock, Counter, Logger, TimerHandle } from '../core/index.js'
import { endpointKey, sandboxPrefix, VXLAN_OVERHEAD, type Dataplane, type SandboxSpec, type SandboxState }
  from './dataplane.js'
import { InvalidParameterError } from './driverapi.js'
import type { EncryptionPort } from './encryption.js'
import type { KernelScheduler } from './kernel-scheduler.js'
import type { Net } from './network-state.js'
import type { PeerDB } from './peerdb.js'
import { SandboxProgrammer } from './reconciler.js'

export interface SandboxLifecycleOptions {
  dp: Dataplane
  nodeName: string
  vtep: string
  dstPort: number
  /** MTU for every network's devices (the driver's option), else the network's, else underlay - overhead. */
  mtu: number | undefined
  encryption: EncryptionPort | undefined
  clock: Clock
  logger: Logger
  /** Failed dataplane operations, by op. */
  errors: Counter
  sched: KernelScheduler
  /** The driver's networks (read only here). */
  nets: ReadonlyMap<string, Net>
  /** The network's PeerDB (made on first use). */
  peerDb: (nid: string) => PeerDB
  /** Cancel a network's pending kernel and peer-return timers. */
  cancelTimers: (n: Net) => void
  orphanGraceMs: number
}

export class SandboxLifecycle {
  private readonly dp: Dataplane
  private readonly log: Logger
  private readonly discovered = new Map<string, SandboxState>()
  private orphanTimer: TimerHandle | undefined

  constructor (private readonly o: SandboxLifecycleOptions) {
    this.dp = o.dp
    this.log = o.logger
  }

  /** Owner tag of this node's sandboxes; the network id follows. */
  private get ownerPrefix (): string { return `ovnet:${this.o.nodeName}:` }

  /** Previous-run sandboxes not claimed yet. */
  unclaimed (): string[] { return [...this.discovered.keys()] }

  /** Find a previous run's sandboxes (adopted on rejoin) and arm the grace period for the rest. */
  async discover (): Promise<void> {
    const prefix = sandboxPrefix(this.o.nodeName)
    // A stale or foreign sandbox never stops the driver (nor the agent): log it, remove what is
    // broken, adopt the rest; a network that needs a removed one gets it made anew.
    const found = await this.dp.listSandboxes(prefix).catch((err: unknown) => {
      this.log.error({ err: String(err) }, 'cannot list sandboxes of a previous run; starting without them')
      return []
    })
    for (const s of found) {
      // The name prefix alone is ambiguous ("ovnet-node-" also starts "ovnet-node-2-..."): trust
      // the owner tag, or for an untagged sandbox a name with nothing but an id after the prefix.
      const mine = s.owner !== undefined
        ? s.owner.startsWith(`${this.ownerPrefix}`)
        : !s.name.slice(prefix.length).includes('-')
      if (!mine) continue
      if (s.unusable !== undefined) {
        this.log.warn({ sandbox: s.name, detail: s.unusable },
          'a previous run left a sandbox name that is no network namespace: removing it')
        await this.guard('removeSandbox', () => this.dp.removeSandbox(s.name))
        continue
      }
      this.discovered.set(s.name, s)
    }
    if (this.discovered.size > 0) {
      this.log.info({ sandboxes: [...this.discovered.keys()] }, 'found sandboxes of a previous run')
      this.orphanTimer = this.o.clock.setTimeout(() => { void this.restoreComplete() }, this.o.orphanGraceMs)
    }
  }

  /** Remove previous-run sandboxes nothing claimed and endpoint veths nobody joined again. */
  async restoreComplete (): Promise<void> {
    this.cancelGrace()
    for (const name of [...this.discovered.keys()]) {
      this.discovered.delete(name)
      await this.guard('removeSandbox', () => this.dp.removeSandbox(name))
    }
    for (const n of this.o.nets.values()) {
      if (n.staleKeys.length === 0) continue
      await n.lock.runShared(async () => {
        const joined = new Set([...n.endpoints.values()].filter(e => e.state !== 'created')
          .map(e => endpointKey(e.eid)))
        for (const key of n.staleKeys) if (!joined.has(key) && n.spec !== undefined) await this.guard('removeEndpoint',
          () => this.dp.removeEndpoint(n.sandbox, key))
        n.staleKeys = []
      })
    }
  }

  cancelGrace (): void {
    this.o.clock.clearTimeout(this.orphanTimer)
    this.orphanTimer = undefined
  }

  /** Remove every unclaimed previous-run sandbox (the driver stops and takes the data plane along). */
  async removeUnclaimed (): Promise<void> {
    for (const name of [...this.discovered.keys()]) await this.guard('removeSandbox',
      () => this.dp.removeSandbox(name))
    this.discovered.clear()
  }

  async ensureLocked (n: Net): Promise<void> {
    if (n.spec !== undefined) return
    // Encrypted: the tunnel first (its steering must exist before any VXLAN frame leaves).
    const crypt = n.encrypted ? this.canEncrypt() : undefined
    await crypt?.ensure()
    const overhead = VXLAN_OVERHEAD + (crypt?.overhead ?? 0)
    const underlay = this.o.mtu ?? n.mtuOption ?? (await this.dp.underlayMtu(this.o.vtep) ?? 1500) - overhead
    const spec: SandboxSpec = {
      name: n.sandbox, vni: n.vni, vtep: this.o.vtep, dstPort: crypt?.dstPort ?? this.o.dstPort, mtu: underlay,
      gateway: n.gateway, owner: `${this.ownerPrefix}${n.nid.replace(/[^A-Za-z0-9._:/-]/g, '_')}`.slice(0, 200)
    }
    const found = this.discovered.get(n.sandbox)
    let fresh: boolean
    try {
      fresh = await this.dp.ensureSandbox(spec)
    } catch (e) {
      this.o.errors.inc({ op: 'ensureSandbox' })
      // Leave nothing half-built behind; the next join starts afresh.
      await this.guard('removeSandbox', () => this.dp.removeSandbox(n.sandbox))
      throw e
    }
    this.discovered.delete(n.sandbox)
    n.origin = found === undefined ? 'created'
      : (found.vni === spec.vni && found.vtep === spec.vtep && found.dstPort === spec.dstPort ? 'adopted' : 'rebuilt')
    n.staleKeys = found?.endpoints ?? []
    n.spec = spec
    n.programmer = new SandboxProgrammer(this.dp, n.sandbox, this.o.peerDb(n.nid))
    // Replays announcements received before the sandbox existed, and repairs an adopted one.
    try {
      await this.o.sched.reconcile(n, n.programmer, 'sandbox', fresh)
    } catch (e) {
      this.o.sched.failed(n, e, 'reconcile')
    }
  }

  /** The encryption port, or a clear error when this host cannot encrypt. */
  canEncrypt (): EncryptionPort {
    if (this.o.encryption === undefined) {
      throw new InvalidParameterError('encrypted networks are not available on this host')
    }
    this.o.encryption.check()
    return this.o.encryption
  }

  async removeLocked (n: Net): Promise<void> {
    this.o.cancelTimers(n)
    n.programmer = undefined
    n.spec = undefined
    n.origin = undefined
    n.needsReconcile = false
    await this.guard('removeSandbox', () => this.dp.removeSandbox(n.sandbox))
  }

  private async guard (op: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn()
    } catch (e) {
      this.o.errors.inc({ op })
      this.log.error({ op, err: (e as Error).message }, 'dataplane operation failed')
    }
  }
}
