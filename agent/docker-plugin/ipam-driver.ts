/**
 * Docker's remote IpamDriver over ovnet.
 *
 * - With `--ipam-opt ovnet.network=NAME` a pool is the pool of the ovnet cluster network NAME,
 *   created on first use from any host (with Docker's `--subnet`/`--ip-range`, or a dynamic
 *   pool). Its PoolID is ours (`ovnet:<network id>:<hold>`); addresses come from the cluster
 *   IPAM, so containers on different hosts never share one; the gateway is the network's own,
 *   the same on every host, and stays the network's when Docker "releases" it.
 * - Without it, requests pass straight to the cluster IPAM (its address spaces and pool ids).
 *
 * Docker asks again while still holding an answer when a dynamic pool overlaps a route of its
 * host; it then releases the first. The pass-through IPAM answers a different pool by itself
 * (held pools are never handed out twice); for a cluster network this request created a moment
 * ago, the network is re-created away from the pools Docker turned down.
 */
import { randomBytes } from 'node:crypto'
import { Gateway, RequestAddressType, ErrPoolNotFound } from '../../ipam/index.js'
import type { NetworkRecord } from '../../proto/index.js'
import { ENCRYPTED_OPTION } from '../../overlay/index.js'
import { sleep, SystemClock, type Clock, type Logger } from '../../core/index.js'
import { BadRequestError, ControllerError, ErrNoSuchNetwork, kindOf } from '../errors.js'
import {
  NETWORK_OPTION,
  type AddressSpacesResponse, type IpamCapabilitiesResponse, type RequestAddressRequest, type RequestAddressResponse,
  type RequestPoolRequest, type RequestPoolResponse
} from './protocol.js'
import type { PluginController, PluginIpam } from './ports.js'
import type { PluginState, PoolHold } from './state.js'

const HOLD_PREFIX = 'ovnet:'
/** How long a request waits for another host's fresh definition of the same network. */
const DEFINITION_WAIT_MS = 5000

/** Docker turned down every pool of this cluster network for its host routes. */
export class PoolOverlapsHostError extends ControllerError {
  override readonly kind = 'forbidden'
  constructor (readonly network: string, readonly pool: string) {
    super(`the pool ${pool} of cluster network ${network} overlaps a route of this host`)
  }
}

const orUndefined = (s: string | undefined): string | undefined => s === undefined || s === '' ? undefined : s

export interface IpamDriverDeps {
  controller: PluginController
  ipam: PluginIpam
  state: PluginState
  logger: Logger
  /** Waiting for a network's definition (default: the system clock). */
  clock?: Clock
}

export class DockerIpamDriver {
  private readonly clock: Clock
  private readonly c: PluginController
  private readonly ipam: PluginIpam
  private readonly state: PluginState
  private readonly log: Logger

  constructor (d: IpamDriverDeps) {
    this.c = d.controller
    this.ipam = d.ipam
    this.state = d.state
    this.log = d.logger
    this.clock = d.clock ?? new SystemClock()
  }

  capabilities (): IpamCapabilitiesResponse {
    // No replay: the cluster IPAM keeps its allocations itself, across restarts.
    return { RequiresMACAddress: this.ipam.capabilities().requiresMACAddress, RequiresRequestReplay: false }
  }

  async addressSpaces (): Promise<AddressSpacesResponse> {
    const s = await this.ipam.getDefaultAddressSpaces()
    return { LocalDefaultAddressSpace: s.local, GlobalDefaultAddressSpace: s.global }
  }

  async requestPool (req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const name = orUndefined(req.Options?.[NETWORK_OPTION])
    if (name === undefined) {
      const p = await this.ipam.requestPool({
        addressSpace: req.AddressSpace, pool: orUndefined(req.Pool), subPool: orUndefined(req.SubPool),
        options: { ...req.Options }, v6: req.V6 ?? false
      })
      return { PoolID: p.poolId, Pool: p.pool, Data: p.meta }
    }
    if (req.V6 === true) throw new BadRequestError(`cluster network ${name}: ovnet networks are IPv4 only`)
    const subnet = orUndefined(req.Pool)
    const ipRange = orUndefined(req.SubPool)
    if (ipRange !== undefined && subnet === undefined) throw new BadRequestError('an ip range needs a subnet')

    let rec = this.byName(name)
    let created = false
    // Pending dynamic answers for this name: Docker found them overlapping its routes.
    const declined = subnet === undefined
      ? [...this.state.pools.values()].filter(h => h.name === name && !h.bound && !h.superseded)
      : []
    if (rec !== undefined && declined.length > 0) {
      const ours = declined.find(h => h.created && h.nid === rec!.id)
      if (ours === undefined) throw new PoolOverlapsHostError(name, rec.subnet)
      await this.c.removeNetwork(rec.id)
      for (const h of declined) h.superseded = true
      await this.state.save()
      this.log.info({ network: name, pool: rec.subnet },
        'docker plugin: pool overlaps a host route; re-creating the cluster network elsewhere')
      rec = undefined
    }
    if (rec === undefined) {
      try {
        // `--ipam-opt encrypted`: Docker hands the driver's `-o` options to the IPAM only after it
        // has the pool, so the cluster network's encryption is asked for here.
        const encrypted = req.Options?.[ENCRYPTED_OPTION] !== undefined ? { Options: { [ENCRYPTED_OPTION]: '' } } : {}
        await this.c.createNetwork(
          { Name: name, Subnet: subnet, IPRange: ipRange, ...encrypted }, { exclude: declined.map(h => h.pool) }
        )
        created = true
      } catch (err) {
        // Another host (or a concurrent request here) is creating the same network: its
        // definition is on its way. Anything else is the answer.
        if (kindOf(err) !== 'forbidden') throw err
        if (await this.waitForNetwork(name) === undefined) throw err
      }
      rec = this.byName(name)
      if (rec === undefined) throw new ErrNoSuchNetwork(name)
    }
    if (subnet !== undefined && subnet !== rec.subnet) {
      throw new BadRequestError(`cluster network ${name} has subnet ${rec.subnet}, not ${subnet}`)
    }
    if (ipRange !== undefined && ipRange !== rec.ipRange) {
      throw new BadRequestError(`cluster network ${name} has ip range ${rec.ipRange || '(none)'}, not ${ipRange}`)
    }
    const hold: PoolHold = {
      poolId: `${HOLD_PREFIX}${rec.id}:${randomBytes(4).toString('hex')}`,
      nid: rec.id,
      name,
      pool: rec.subnet,
      created,
      bound: false,
      superseded: false
    }
    this.state.pools.set(hold.poolId, hold)
    await this.state.save()
    return { PoolID: hold.poolId, Pool: rec.subnet, Data: {} }
  }

  async releasePool (poolId: string): Promise<void> {
    if (!poolId.startsWith(HOLD_PREFIX)) { await this.ipam.releasePool(poolId); return }
    const hold = this.hold(poolId)
    this.state.pools.delete(poolId)
    await this.state.save()
    // Docker gave up creating its network on a cluster network made just for it: undo that.
    // A network Docker did create on stays: other hosts may use it (`ovnet network rm`).
    if (hold.created && !hold.bound && !hold.superseded) {
      await this.c.removeNetwork(hold.nid).catch((err: unknown) => {
        this.log.warn({ err: String(err), network: hold.name }, 'docker plugin: cannot roll back the cluster network')
      })
    }
  }

  async requestAddress (req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const ip = orUndefined(req.Address)
    const options = { ...req.Options }
    if (!req.PoolID.startsWith(HOLD_PREFIX)) {
      const a = await this.ipam.requestAddress(req.PoolID, ip, options)
      return { Address: a.address, Data: a.meta }
    }
    const rec = this.networkOf(this.hold(req.PoolID))
    if (options[RequestAddressType] === Gateway) {
      // The network's gateway is allocated once, by the host that created it.
      if (rec.gateway === '') throw new BadRequestError(`cluster network ${rec.name} has no gateway`)
      if (ip !== undefined && ip !== rec.gateway) {
        throw new BadRequestError(`cluster network ${rec.name} has gateway ${rec.gateway}, not ${ip}`)
      }
      return { Address: `${rec.gateway}/${rec.subnet.split('/')[1]}`, Data: {} }
    }
    return { Address: await this.c.requestAddress(rec.id, ip, options), Data: {} }
  }

  async releaseAddress (poolId: string, ip: string): Promise<void> {
    if (!poolId.startsWith(HOLD_PREFIX)) { await this.ipam.releaseAddress(poolId, ip); return }
    const rec = this.networkOf(this.hold(poolId))
    if (ip === rec.gateway) return
    await this.c.releaseAddress(rec.id, ip)
  }

  /** Docker created its network on this pool: it is no longer a candidate for an overlap retry. */
  bind (nid: string): void {
    for (const h of this.state.pools.values()) if (h.nid === nid) h.bound = true
  }

  private byName (name: string): NetworkRecord | undefined {
    const rec = this.c.findNetwork(name)
    return rec?.name === name ? rec : undefined
  }

  private hold (poolId: string): PoolHold {
    const h = this.state.pools.get(poolId)
    if (h === undefined) throw new ErrPoolNotFound(poolId)
    return h
  }

  private networkOf (h: PoolHold): NetworkRecord {
    const rec = this.c.findNetwork(h.nid)
    if (rec === undefined) throw new ErrNoSuchNetwork(`${h.name} (removed from the cluster)`)
    return rec
  }

  private async waitForNetwork (name: string): Promise<NetworkRecord | undefined> {
    const until = this.clock.now() + DEFINITION_WAIT_MS
    for (;;) {
      const rec = this.byName(name)
      if (rec !== undefined || this.clock.now() > until) return rec
      await sleep(100, this.clock)
    }
  }
}
