/**
 * What the controller needs of the global IPAM: libnetwork's Ipam contract plus the status and
 * the operator's reclaim. The ipam/ layer implements the contract; the agent wires it.
 */
import { ErrIpamUnavailable, type ClusterIpam, type IpamStatus, type Ipam } from '../ipam/index.js'
import type { IpamPoolView, IpamStatusView } from './api-types.js'

export interface IpamPort extends Ipam {
  /** Pools with their use; `networkName(id)` names the network a pool was requested for. */
  statusView(networkName: (nid: string) => string): IpamStatusView
  /**
   * Whether this host holds the pool (a reference from `requestPool`, not released). A graceful
   * stop gives every pool up (the IPAM's leave), while the agent's state still names them.
   */
  holdsPool(poolId: string): boolean
  /** Take back the ranges of a dead node (dangerous: see `ovnet ipam reclaim`). Returns them. */
  reclaim(nodeId: string): Promise<string[]>
}

/** The IPAM layer's status, shaped for the control API. */
export function ipamView (s: IpamStatus, networkName: (nid: string) => string): IpamStatusView {
  const pools: IpamPoolView[] = s.pools.map(p => ({
    Network: p.network === '' ? '' : (networkName(p.network) || p.network),
    Subnet: p.pool,
    IPsInUse: p.inUse,
    DynamicIPsAvailable: p.available,
    Ranges: p.ranges.map(r => ({ Range: r.range, Owner: r.owner, IPsInUse: r.inUse ?? 0 }))
  }))
  return { Pools: pools }
}

/**
 * A dynamic address asked again once when the IPAM could not decide: a busy donor answers after
 * the request's timeout, and its grant (a ring record) usually lands meanwhile, so the second ask
 * finds the space here (test/ipam/busy-donor.test.ts). A second failure is the caller's, as is
 * any other error; an address asked by value is not retried.
 */
export async function requestAddressOnceMore (
  ipam: Pick<Ipam, 'requestAddress'>, id: string, ip: string | undefined, opts: Record<string, string>
): ReturnType<Ipam['requestAddress']> {
  try {
    return await ipam.requestAddress(id, ip, opts)
  } catch (err) {
    if (!(err instanceof ErrIpamUnavailable) || ip !== undefined) throw err
    return await ipam.requestAddress(id, ip, opts)
  }
}

/** The IPAM layer behind the controller's port (delegation; a dynamic address asked once more). */
export function clusterIpamPort (ipam: ClusterIpam): IpamPort {
  return {
    getDefaultAddressSpaces: async () => await ipam.getDefaultAddressSpaces(),
    requestPool: async (req) => await ipam.requestPool(req),
    releasePool: async (id) => { await ipam.releasePool(id) },
    requestAddress: async (id, ip, opts) => await requestAddressOnceMore(ipam, id, ip, opts),
    releaseAddress: async (id, ip) => { await ipam.releaseAddress(id, ip) },
    isBuiltIn: () => ipam.isBuiltIn(),
    capabilities: () => ipam.capabilities(),
    statusView: (name) => ipamView(ipam.status(), name),
    holdsPool: (id) => ipam.inspectPool(id) !== undefined,
    reclaim: async (node) => await ipam.reclaim(node)
  }
}
