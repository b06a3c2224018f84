/**
 * What a node does when it hears about members (split out of networkdb.ts): screening a node
 * event (incarnation jumps rejected, a claim about ourselves refuted), and reacting to a member's
 * change of state — connect and sync on alive, the suspicion timer on suspect, hiding entries and
 * a late hang-up on failed, tombstones on left — then the gauges and the cluster event.
 */
import type { WireNodeEvent } from '../proto/index.js'
import type { Clock, Logger, TimerHandle } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
import type { FailureDetector } from './failure-detector.js'
import { toNodeInfo, type MemberChange, type Membership } from './membership.js'
import type { Tables } from './tables.js'
import type { Transport } from './transport.js'
import { MAX_INC_AHEAD, tooFarAhead } from './trust.js'
import type { ClusterEvent } from './types.js'

export interface MemberEventsDeps {
  clock: Clock
  log: Logger
  cfg: NetworkDBConfig
  transport: Transport
  tables: Tables
  self: () => string
  mem: () => Membership
  running: () => boolean
  fd: () => FailureDetector | undefined
  joined: ReadonlySet<string>
  peers: (nid: string) => string[]
  sync: (peer: string, nid: string) => Promise<boolean>
  /** Whether a complete sync of `nid` with `peer` began at or after `since` (sync-ledger.ts). */
  covered: (nid: string, peer: string, since: number) => Promise<boolean>
  broadcastNode: (ev: WireNodeEvent) => void
  reject: (reason: string, detail: object) => void
  persistMeta: () => Promise<void>
  changed: (ev: ClusterEvent) => void
}

export class MemberEvents {
  private readonly suspicion = new Map<string, TimerHandle>()

  constructor (private readonly d: MemberEventsDeps) {}

  /** Stop every suspicion timer (close). */
  cancel (): void {
    for (const t of this.suspicion.values()) this.d.clock.clearTimeout(t)
    this.suspicion.clear()
  }

  onNodeEvent (ev: WireNodeEvent): void {
    const mem = this.d.mem()
    const self = this.d.self()
    const known = ev.node === self ? mem.self.inc : mem.get(ev.node)?.inc ?? 0
    if (tooFarAhead(ev.inc, known, this.d.clock.now(), MAX_INC_AHEAD)) {
      this.d.reject('incarnation-jump', { node: ev.node, inc: ev.inc })
      return
    }
    if (ev.node === self) {
      if (mem.self.status !== 'left' && mem.refutes(ev)) {
        this.d.log.info({ said: ev.kind, inc: mem.self.inc }, 'refuting')
        void this.d.persistMeta().catch(() => {})
        this.d.broadcastNode(mem.event(mem.self, 'alive'))
      }
      return
    }
    const change = mem.apply(ev, this.d.clock.now())
    if (change !== undefined) this.onMemberChange(change)
  }

  /** The failure detector reached nobody who could reach `id`. */
  suspect (id: string): void {
    const mem = this.d.mem()
    const change = mem.mark(id, 'suspect', this.d.clock.now())
    if (change === undefined) return
    this.d.broadcastNode(mem.event(change.member, 'suspect'))
    this.onMemberChange(change)
  }

  private onMemberChange ({ member: m, prev }: MemberChange): void {
    const { clock, cfg, transport } = this.d
    const now = clock.now()
    this.d.log.info({ peer: m.id, name: m.name, status: m.status, prev, inc: m.inc }, 'member changed')
    if (m.status !== 'suspect') {
      clock.clearTimeout(this.suspicion.get(m.id))
      this.suspicion.delete(m.id)
    }
    switch (m.status) {
      case 'alive':
        // Hidden entries of a returning node are not shown again here: they come back when the
        // owner itself sends them (the sync below), so nothing it dropped meanwhile reappears.
        // Not when a sync since did it (sync-ledger.ts): a node joining the cluster asks every
        // member itself, and a member new to us has no earlier state here that one could miss.
        transport.connect(m.id, m.addrs, cfg.requestTimeoutMs)
          .then(() => {
            const since = prev === undefined ? -Infinity : now
            for (const nid of this.d.joined) {
              if (!this.d.peers(nid).includes(m.id)) continue
              void this.d.covered(nid, m.id, since).then(async done => { if (!done) await this.d.sync(m.id, nid) })
            }
          })
          .catch((err: unknown) => { this.d.log.debug({ peer: m.id, err: String(err) }, 'connect failed') })
        break
      case 'suspect':
        if (!this.suspicion.has(m.id)) {
          const inc = m.inc
          this.suspicion.set(m.id, clock.setTimeout(() => {
            this.suspicion.delete(m.id)
            const mem = this.d.mem()
            const cur = mem.get(m.id)
            if (!this.d.running() || cur?.status !== 'suspect' || cur.inc !== inc) return
            const change = mem.mark(m.id, 'failed', clock.now())
            if (change !== undefined) {
              this.d.broadcastNode(mem.event(change.member, 'failed'))
              this.onMemberChange(change)
            }
          }, this.d.fd()?.scale(cfg.suspicionTimeoutMs) ?? cfg.suspicionTimeoutMs))
        }
        break
      case 'failed': {
        this.d.tables.setOwnerHidden(m.id, true, now)
        // Not at once (tried: every false suspicion of a loaded node became a reconnect whose
        // handshakes failed more probes; a cluster of 20 forming on 2 cores never settled).
        const inc = m.inc
        clock.setTimeout(() => {
          const cur = this.d.mem().get(m.id)
          if (this.d.running() && cur?.status === 'failed' && cur.inc === inc) {
            void transport.disconnect(m.id).catch(() => {})
          }
        }, cfg.failedHangupMs)
        break
      }
      case 'left':
        this.d.tables.tombstoneOwner(m.id, undefined, now + cfg.tombstoneTtlMs, 'owner-left')
        void transport.disconnect(m.id).catch(() => {})
        break
    }
    this.d.changed({ type: 'node', node: toNodeInfo(m), prev })
  }
}
