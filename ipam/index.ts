/**
 * IPAM: libnetwork's ipamapi over cluster-wide ownership rings replicated through NetworkDB. The layer's whole public
 * surface.
 */
export * from './ipamapi.js'
export { ClusterIpam, type ClusterIpamOptions, type PoolInfo } from './ipam.js'
export { type IpamConfig, type ResolvedIpamConfig, defaultIpamConfig, resolveIpamConfig } from './config.js'
export {
  type IpamStore, type IpamSnapshot, type IpamMeta, type StoredRing, type StoredPool, type StoredAllocation,
  MemoryIpamStore
} from './store.js'
export { type PredefinedPool, DEFAULT_GLOBAL_POOLS, DEFAULT_LOCAL_POOLS, formatPoolId, parsePoolId } from './pools.js'
export type {
  IpamStatus, IpamPoolStatus, IpamSpaceStatus, IpamSpaceNode, IpamRangeStatus, IpamNodeUsage
} from './status.js'
export type { HandoverReport } from './handover.js'
export { parsePrefix, prefixesOverlap, type ParsedPrefix } from './ip-math.js'
