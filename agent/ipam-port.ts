/**
 * What the controller needs of the global IPAM: libnetwork's Ipam contract plus the status and
 * the operator's reclaim. The ipam/ layer implements the contract; the agent wires it.
 */
import type { Ipam } from '../ipam/ipamapi.js'
import type { IpamStatusView } from './api-types.js'

export interface IpamPort extends Ipam {
  /** Pools with their use; `networkName(id)` names the network a pool was requested for. */
  statusView(networkName: (nid: string) => string): IpamStatusView
  /** Take back the ranges of a dead node (dangerous: see `ovnet ipam reclaim`). Returns them. */
  reclaim(nodeId: string): Promise<string[]>
}
