/**
 * A host's first attach to a network: the network's data plane on this host made while the IPAM
 * works. The sandbox (namespace, bridge, vxlan device, the FDB/neighbour entries of the peers
 * known), its egress uplink and firewall rules, and this host's membership of the network in
 * NetworkDB (the bulk sync of its tables) need nothing of the endpoint: the network's record says
 * all. So they start the moment the attach begins, alongside the pool join and the address
 * request (round trips to the pool's owner and a donor), instead of after them; the endpoint's
 * veth then goes into a sandbox that exists. Docker makes the sandbox in the first Join; this is
 * the same sandbox, made some tens of milliseconds earlier, and only for an attach under way:
 * nothing is made for networks this host does not use (no idle kernel objects, no FDB
 * programming, no gossip of networks without local containers).
 *
 * The embedded DNS binds its listener in the sandbox once the sandbox and its uplink are made (its
 * helper process then runs while the attach waits for the IPAM, not as it answers); nobody waits
 * for it, as before.
 *
 * The attach answers only once the preparation is done (the uplink exists, the NetworkDB join has
 * its table), as before. A preparation whose attach fails leaves nothing: the sandbox goes unless
 * an endpoint took it, and the egress view drops the network. A crash in between leaves a sandbox
 * nothing claims, which the restarted driver removes (its unclaimed-sandbox sweep); a removed
 * network's sandbox goes with the driver network.
 */
import type { NetworkRecord } from '../proto/index.js'
import type { Logger } from '../core/index.js'
import type { NetworkDB } from '../networkdb/index.js'
import type { OverlayDriver } from '../overlay/index.js'
import type { LocalNetworks } from './local-networks.js'

export interface NetworkPrepareDeps {
  db: Pick<NetworkDB, 'networks' | 'joinNetwork'>
  driver: Pick<OverlayDriver, 'prepareSandbox' | 'releaseUnused' | 'hasSandbox'>
  local: Pick<LocalNetworks, 'ensureDriverNetwork'>
  /** Whether this host has endpoints in the network (attached, saved). */
  inUse: (nid: string) => boolean
  /** Bring egress to the controller's view, which lists the networks being prepared. */
  syncEgress: () => Promise<void>
  /** The embedded DNS: the sandbox exists (its listener may bind now), or the preparation is over. */
  dns?: { preparing?: (nid: string, on: boolean) => void }
  logger: Logger
}

/** One attach's share of a preparation. */
export interface Preparation {
  /** Settles when the sandbox, its egress and the NetworkDB join are done; rejects on the first failure. */
  readonly ready: Promise<void>
  /** The attach is over (answered or failed): a sandbox no endpoint took goes. Never rejects. */
  end: () => Promise<void>
}

const NOTHING: Preparation = { ready: Promise.resolve(), end: async () => {} }

interface InFlight { attaches: number, ready: Promise<void> }

export class NetworkPreparations {
  private readonly inFlight = new Map<string, InFlight>()
  private readonly log: Logger

  constructor (private readonly d: NetworkPrepareDeps) {
    this.log = d.logger
  }

  /** Networks whose first attach here is under way: their uplink belongs in the egress view. */
  preparing (): ReadonlySet<string> {
    return new Set(this.inFlight.keys())
  }

  /**
   * Begin an attach to `rec`: a network this host uses already (endpoints here, sandbox made)
   * needs nothing; otherwise its data plane is made now, once for attaches that begin together.
   */
  begin (rec: NetworkRecord): Preparation {
    const nid = rec.id
    let f = this.inFlight.get(nid)
    if (f === undefined) {
      if (this.d.inUse(nid) && this.d.driver.hasSandbox(nid)) return NOTHING
      const ready = this.run(rec)
      // Awaited by every attach that shares it; never an unhandled rejection meanwhile.
      ready.catch(() => {})
      f = { attaches: 0, ready }
      this.inFlight.set(nid, f)
    }
    f.attaches++
    const flight = f
    let ended = false
    return {
      ready: flight.ready,
      end: async () => {
        if (ended) return
        ended = true
        await flight.ready.catch(() => {})
        if (--flight.attaches > 0) return
        if (this.inFlight.get(nid) === flight) this.inFlight.delete(nid)
        this.d.dns?.preparing?.(nid, false)
        if (this.d.inUse(nid)) return
        // No endpoint took it (every attach failed): nothing of the preparation stays.
        await this.d.driver.releaseUnused(nid).catch((err: unknown) => {
          this.log.warn({ err: String(err), nid }, 'removing an unused prepared sandbox failed')
        })
        await this.d.syncEgress().catch((err: unknown) => {
          this.log.warn({ err: String(err), nid }, 'egress reconcile after a failed first attach failed')
        })
      }
    }
  }

  private async run (rec: NetworkRecord): Promise<void> {
    const nid = rec.id
    const t0 = performance.now()
    await this.d.local.ensureDriverNetwork(rec)
    // Membership first (synchronous in NetworkDB): the endpoint's entries can be written at once;
    // the attach answers once the join's bulk sync is in, as it did when the join came later.
    const joined = this.d.db.networks().includes(nid) ? undefined : this.d.db.joinNetwork(nid)
    const sandbox = (async () => {
      await this.d.driver.prepareSandbox(nid)
      await this.d.syncEgress()
      // Not waited for (as before). After the kernel work, not amid it (its helper is a node
      // process start, ~60 ms of CPU): on a host that waits for the IPAM it runs meanwhile.
      this.d.dns?.preparing?.(nid, true)
    })()
    // Both settle before this does (nothing of a failed one runs on unseen).
    const [s, j] = await Promise.allSettled([sandbox, joined])
    if (s.status === 'rejected') throw s.reason
    if (j.status === 'rejected') throw j.reason
    this.log.debug({ nid, ms: Math.round(performance.now() - t0) }, 'network prepared for its first attach here')
  }
}
