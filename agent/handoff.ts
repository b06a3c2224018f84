/**
 * Endpoints another runtime configures (Docker's remote plugin, agent/docker-plugin): addresses
 * requested ahead of the endpoint, and endpoints whose id, address and MAC the runtime chose, their
 * container side left in this namespace for the runtime to move. Split out of controller.ts, which
 * keeps one-line methods calling in (the plugin's PluginController port) and lends its network
 * map, its locks and its plumbing.
 */
import type { Logger } from '../core/index.js'
import type { NetworkRecord } from '../proto/index.js'
import { BadRequestError, ErrInvalidJoin, ErrNoSuchEndpoint, ErrNoSuchNetwork } from './errors.js'
import type { IpamPort } from './ipam-port.js'
import type { LocalNetworks } from './local-networks.js'
import type { LocalEndpoint, LocalState } from './local-state.js'
import type { OpLocks } from './op-locks.js'

export interface HandoffHost {
  logger: Logger
  networks: ReadonlyMap<string, NetworkRecord>
  state: LocalState
  ipam: IpamPort
  local: LocalNetworks
  ops: OpLocks
  /** The controller's per-network turn (pool and driver network set up first). */
  inNetwork: <T>(rec: NetworkRecord, fn: () => Promise<T>, after?: (v: T) => Promise<void>) => Promise<T>
  plumb: (ep: LocalEndpoint) => Promise<void>
  unplumb: (ep: LocalEndpoint) => Promise<void>
  detachLocal: (ep: LocalEndpoint) => Promise<void>
  syncEgress: () => Promise<void>
  publishPending: () => Promise<void>
}

export interface HandoffRequest { eid: string, name: string, address: string, mac: string, handoff: string }

export class HandoffEndpoints {
  constructor (private readonly h: HandoffHost) {}

  /**
   * An address of the network for an endpoint the runtime will create (the network's pool is held here from now on).
   */
  async requestAddress (nid: string, ip: string | undefined, options: Record<string, string>): Promise<string> {
    const rec = this.h.networks.get(nid)
    if (rec === undefined) throw new ErrNoSuchNetwork(nid)
    return await this.h.inNetwork(rec, async () => {
      const poolId = await this.h.local.ensure(rec)
      return (await this.h.ipam.requestAddress(poolId, ip, options)).address
    })
  }

  /** Give back an address from `requestAddress`; refused while an endpoint of this host uses it. */
  async releaseAddress (nid: string, ip: string): Promise<void> {
    await this.h.ops.shared(() => this.h.ops.network(nid, async () => {
      const ln = this.h.state.networks.get(nid)
      if (ln === undefined) throw new ErrNoSuchNetwork(nid)
      const user = this.h.state.endpointsOf(nid).find(e => e.address.split('/')[0] === ip)
      if (user !== undefined) throw new BadRequestError(`address ${ip} is in use by endpoint ${user.eid.slice(0, 12)}`)
      await this.h.ipam.releaseAddress(ln.poolId, ip)
    }))
  }

  /**
   * Plumb and publish an endpoint whose id, address and MAC the runtime chose, leaving its
   * container side in this namespace as `handoff` for the runtime to move (Docker's Join).
   * Published like `attach`'s, so inspect shows it everywhere. Returns the network's gateway.
   */
  async attach (nid: string, req: HandoffRequest): Promise<{ gateway: string }> {
    const found = this.h.networks.get(nid)
    if (found === undefined) throw new ErrNoSuchNetwork(nid)
    return await this.h.inNetwork(found, async () => {
      const rec = this.h.networks.get(nid)
      if (rec === undefined) throw new ErrNoSuchNetwork(nid)
      if (this.h.state.endpoints.has(req.eid)) throw new ErrInvalidJoin()
      await this.h.local.ensure(rec)
      const ep: LocalEndpoint = {
        nid, eid: req.eid, name: req.name, netns: '', address: req.address, mac: req.mac.toLowerCase(),
        entries: [], handoff: req.handoff
      }
      try {
        await this.h.plumb(ep)
        this.h.state.endpoints.set(ep.eid, ep)
        await this.h.state.save()
      } catch (err) {
        await this.h.unplumb(ep).catch(() => {})
        throw err
      }
      await this.h.syncEgress()
      this.h.logger.info(
        { network: rec.name, eid: ep.eid, ip: ep.address, handoff: ep.handoff }, 'endpoint joined (handed off)'
      )
      return { gateway: rec.gateway }
    }, async () => { await this.h.publishPending() })
  }

  /** Undo `attach` (Docker's Leave); the address stays with the runtime. */
  async detach (eid: string): Promise<void> {
    const found = this.h.state.endpoints.get(eid)
    if (found?.handoff === undefined) throw new ErrNoSuchEndpoint(eid)
    await this.h.ops.shared(async () => {
      await this.h.ops.network(found.nid, async () => {
        const ep = this.h.state.endpoints.get(eid)
        if (ep?.handoff === undefined) throw new ErrNoSuchEndpoint(eid)
        await this.h.detachLocal(ep)
      })
      await this.h.publishPending()
    })
  }
}
