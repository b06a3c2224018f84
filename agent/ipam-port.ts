/**
 * What the controller needs of the global IPAM: libnetwork's Ipam contract plus the status and
 * the operator's reclaim. The ipam/ layer implements the contract; the agent wires it.
 */
import type { ClusterIpam, IpamStatus, Ipam } from '../ipam/index.js'
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

/** The IPAM layer behind the controller's port (plain delegation). */
export function clusterIpamPort (ipam: ClusterIpam): IpamPort {
  return {
    getDefaultAddressSpaces: async () => await ipam.getDefaultAddressSpaces(),
    requestPool: async (req) => await ipam.requestPool(req),
    releasePool: async (id) => { await ipam.releasePool(id) },
    requestAddress: async (id, ip, opts) => await ipam.requestAddress(id, ip, opts),
    releaseAddress: async (id, ip) => { await ipam.releaseAddress(id, ip) },
    isBuiltIn: () => ipam.isBuiltIn(),
    capabilities: () => ipam.capabilities(),
    statusView: (name) => ipamView(ipam.status(), name),
    holdsPool: (id) => ipam.inspectPool(id) !== undefined,
    reclaim: async (node) => await ipam.reclaim(node)
  }
}
