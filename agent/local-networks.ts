/**
 * What this host holds of the networks it uses: one reference on the network's IPAM pool, the
 * network's gateway, and the network created in the overlay driver. Remembered in LocalState (the
 * pool id and gateway) so that each is released exactly once, when the network is removed.
 *
 * The pool and the gateway belong to the network, not to the host that created it. The IPAM
 * keeps a pool while some host holds it; a graceful stop gives up everything the host held (the
 * IPAM's leave hands its ranges over), so the last host of a network to stop lets the pool go,
 * and a host started again must hold the pool again although its state still names it. Whoever
 * takes the pool next (another host, or the same one after a restart) asks for exactly the
 * network's subnet and names the network's gateway (`GatewayOption`): a pool created by that
 * request carries the gateway in its record from the start, so the gateway is never handed to an
 * endpoint. The subnet stays the network's while no host holds it: the controller keeps new
 * networks away from every known network's subnet.
 */
import type { NetworkRecord } from '../proto/index.js'
import type { Logger } from '../core/index.js'
import { VXLANID_LIST, type OverlayDriver, type TableGlue } from '../overlay/index.js'
import {
  ErrIPAlreadyAllocated, GatewayOption, Gateway, GlobalDefault, NetworkOption, RequestAddressType
} from '../ipam/index.js'
import type { IpamPort } from './ipam-port.js'
import type { LocalNetwork, LocalState } from './local-state.js'

export interface LocalNetworksDeps {
  ipam: IpamPort
  driver: OverlayDriver
  glue: TableGlue
  state: LocalState
  logger: Logger
}

export class LocalNetworks {
  /** Networks created in the local driver (this run). */
  private readonly driverNets = new Set<string>()
  /** Driver networks being created (two first attaches at once make it once). */
  private readonly creating = new Map<string, Promise<void>>()
  private readonly ipam: IpamPort
  private readonly driver: OverlayDriver
  private readonly glue: TableGlue
  private readonly state: LocalState
  private readonly log: Logger

  constructor (d: LocalNetworksDeps) {
    this.ipam = d.ipam
    this.driver = d.driver
    this.glue = d.glue
    this.state = d.state
    this.log = d.logger
  }

  /**
   * At start: forget the pools the IPAM no longer holds (a graceful stop gave them up); they are
   * taken again when the network is used. Returns the networks forgotten.
   */
  async pruneLost (): Promise<string[]> {
    const lost = [...this.state.networks.values()].filter(ln => !this.ipam.holdsPool(ln.poolId)).map(ln => ln.nid)
    if (lost.length === 0) return lost
    for (const nid of lost) this.state.networks.delete(nid)
    await this.state.save()
    this.log.info({ networks: lost.length }, 'pools given up by the last stop will be held again on use')
    return lost
  }

  /** The pool held here for the network (taken if needed) and the network created in the driver (idempotent). */
  /** True when `ensure(rec)` has nothing to do (pool held, driver network created). */
  isReady (nid: string): boolean {
    const ln = this.state.networks.get(nid)
    return ln !== undefined && this.ipam.holdsPool(ln.poolId) && this.driverNets.has(nid)
  }

  async ensure (rec: NetworkRecord): Promise<string> {
    let ln = this.state.networks.get(rec.id)
    if (ln !== undefined && !this.ipam.holdsPool(ln.poolId)) {
      this.log.warn({ nid: rec.id, pool: ln.poolId }, 'the IPAM no longer holds this network\'s pool: holding it again')
      this.state.networks.delete(rec.id)
      ln = undefined
    }
    if (ln === undefined) {
      ln = await this.hold(rec)
      this.state.networks.set(rec.id, ln)
      await this.state.save()
    }
    await this.ensureDriverNetwork(rec)
    return ln.poolId
  }

  /**
   * The network in the overlay driver (idempotent; no IPAM needed: the record says all). A first
   * attach makes it before its pool is held, to build the sandbox meanwhile (network-prepare.ts).
   */
  async ensureDriverNetwork (rec: NetworkRecord): Promise<void> {
    if (this.driverNets.has(rec.id)) return
    let p = this.creating.get(rec.id)
    if (p === undefined) {
      const prefix = rec.subnet.split('/')[1]
      const gateway = rec.gateway === '' ? undefined : `${rec.gateway}/${prefix}`
      p = this.driver.createNetwork(
        rec.id, { ...rec.options, [VXLANID_LIST]: String(rec.vni) }, this.glue.networkInfo(rec.id),
        [{ addressSpace: GlobalDefault, pool: rec.subnet, gateway }], []
      ).then(() => { this.driverNets.add(rec.id) }).finally(() => { this.creating.delete(rec.id) })
      this.creating.set(rec.id, p)
    }
    await p
  }

  /** One reference on the network's pool, and its gateway. */
  private async hold (rec: NetworkRecord): Promise<LocalNetwork> {
    const options: Record<string, string> = { [NetworkOption]: rec.id }
    if (rec.gateway !== '') options[GatewayOption] = rec.gateway
    const pool = await this.ipam.requestPool({
      addressSpace: GlobalDefault, pool: rec.subnet, subPool: rec.ipRange === '' ? undefined : rec.ipRange,
      options, v6: false
    })
    if (rec.gateway === '') return { nid: rec.id, poolId: pool.poolId, gateway: '' }
    try {
      await this.ipam.requestAddress(pool.poolId, rec.gateway, { [RequestAddressType]: Gateway })
      return { nid: rec.id, poolId: pool.poolId, gateway: rec.gateway }
    } catch (err) {
      // Another host holds it outright (it asked for the gateway first): reserved all the same.
      if (err instanceof ErrIPAlreadyAllocated) {
        this.log.debug({ nid: rec.id, gateway: rec.gateway }, 'the gateway is held by another host')
        return { nid: rec.id, poolId: pool.poolId, gateway: '' }
      }
      await this.ipam.releasePool(pool.poolId).catch(() => {})
      throw err
    }
  }

  /** Drop the driver network, the gateway and the pool reference (the network is gone). */
  async release (nid: string): Promise<void> {
    await this.creating.get(nid)?.catch(() => {})
    if (this.driverNets.delete(nid)) {
      await this.driver.deleteNetwork(nid).catch((err: unknown) => {
        this.log.warn({ err: String(err), nid }, 'driver deleteNetwork failed')
      })
    }
    await this.driver.networkFree(nid).catch(() => {})
    const ln = this.state.networks.get(nid)
    if (ln === undefined) return
    if (this.ipam.holdsPool(ln.poolId)) {
      if (ln.gateway !== '') {
        await this.ipam.releaseAddress(ln.poolId, ln.gateway).catch((err: unknown) => {
          this.log.warn({ err: String(err), nid }, 'gateway release failed')
        })
      }
      await this.ipam.releasePool(ln.poolId).catch((err: unknown) => {
        this.log.warn({ err: String(err), nid }, 'pool release failed')
      })
    }
    this.state.networks.delete(nid)
    await this.state.save()
  }
}
