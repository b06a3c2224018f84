/**
 * Creating a network: the checks against the known networks, then the pool, the gateway, the
 * driver's allocation and the definition in `network_table`, undone step by step on a failure.
 */
import { randomBytes } from 'node:crypto'
import { encodeNetworkRecord, NETWORK_TABLE, type NetworkRecord } from '../proto/index.js'
import type { NetworkDB } from '../networkdb/index.js'
import type { Clock, Logger } from '../core/index.js'
import { OVERLAY_GLOBAL_NETWORK as GLOBAL, VXLANID_LIST, type OverlayDriver } from '../overlay/index.js'
import {
  parsePrefix, prefixesOverlap, ErrPoolOverlap, GlobalDefault, Gateway, NetworkOption,
  RequestAddressType, type ParsedPrefix
} from '../ipam/index.js'
import type { NetworkCreateRequest, NetworkCreateResponse } from './api-types.js'
import { BadRequestError, NetworkNameError } from './errors.js'
import type { IpamPort } from './ipam-port.js'
import type { LocalState } from './local-state.js'

export interface NetworkCreateDeps {
  db: NetworkDB
  driver: OverlayDriver
  ipam: IpamPort
  state: LocalState
  clock: Clock
  log: Logger
  /** Every network of the cluster, by id (the controller's). */
  networks: Map<string, NetworkRecord>
  /** The subnets of removed networks still on record. */
  removedSubnets: () => string[]
}

/** Whether a network's subnet overlaps `p`. */
function overlaps (subnet: string, p: ParsedPrefix): boolean {
  const q = parsePrefix(subnet)
  return q !== undefined && prefixesOverlap(q, p)
}

/**
 * `exclude`: prefixes a dynamic pool must not overlap (Docker's host routes, see the plugin).
 * The caller runs it alone (a cluster-wide operation).
 */
export async function createClusterNetwork (
  d: NetworkCreateDeps, req: NetworkCreateRequest, opts: { exclude?: string[] }
): Promise<NetworkCreateResponse> {
  if ([...d.networks.values()].some(n => n.name === req.Name)) throw new NetworkNameError(req.Name)
  if (req.Gateway !== undefined && req.Subnet === undefined) throw new BadRequestError('a gateway needs a subnet')
  if (req.IPRange !== undefined && req.Subnet === undefined) throw new BadRequestError('an ip range needs a subnet')
  // A network's subnet stays its own even while no host holds its pool (local-networks.ts).
  const wanted = req.Subnet === undefined ? undefined : parsePrefix(req.Subnet)
  if (wanted !== undefined && [...d.networks.values()].some(n => overlaps(n.subnet, wanted))) throw new ErrPoolOverlap()
  const exclude = req.Subnet === undefined
    ? [...(opts.exclude ?? []), ...[...d.networks.values()].map(n => n.subnet), ...d.removedSubnets()]
    : opts.exclude
  const nid = randomBytes(32).toString('hex')
  const undo: Array<() => Promise<void>> = []
  try {
    const pool = await d.ipam.requestPool({
      addressSpace: GlobalDefault, pool: req.Subnet, subPool: req.IPRange,
      options: { [NetworkOption]: nid }, v6: false, exclude
    })
    undo.push(async () => { await d.ipam.releasePool(pool.poolId) })
    const gw = await d.ipam.requestAddress(pool.poolId, req.Gateway, { [RequestAddressType]: Gateway })
    undo.push(async () => { await d.ipam.releaseAddress(pool.poolId, gw.address.split('/')[0]!) })
    const options: Record<string, string> = { ...req.Options }
    if (req.VNI !== undefined) options[VXLANID_LIST] = String(req.VNI)
    const allocated = await d.driver.networkAllocate(
      nid, options, [{ addressSpace: GlobalDefault, pool: pool.pool, gateway: gw.address }], []
    )
    undo.push(async () => { await d.driver.networkFree(nid) })
    const merged = { ...options, ...allocated }
    const rec: NetworkRecord = {
      id: nid,
      name: req.Name,
      created: d.clock.now(),
      subnet: pool.pool,
      gateway: gw.address.split('/')[0]!,
      ipRange: req.IPRange ?? '',
      vni: Number(merged[VXLANID_LIST]?.split(',')[0] ?? 0),
      internal: req.Internal === true,
      attachable: true,
      options: merged,
      labels: { ...req.Labels }
    }
    d.state.networks.set(nid, { nid, poolId: pool.poolId, gateway: rec.gateway })
    await d.state.save()
    undo.push(async () => { d.state.networks.delete(nid); await d.state.save() })
    await d.db.createEntry(NETWORK_TABLE, GLOBAL, nid, encodeNetworkRecord(rec))
    d.networks.set(nid, rec)
    await d.db.publishPending()
    d.log.info({ network: rec.name, id: nid, subnet: rec.subnet, vni: rec.vni }, 'network created')
    return { Id: nid }
  } catch (err) {
    for (const u of undo.reverse()) {
      await u().catch((e: unknown) => { d.log.warn({ err: String(e) }, 'rollback step failed') })
    }
    throw err
  }
}
