/**
 * IPAM configuration: one object, every default with its reason. Times are in ms.
 */
import { IPAM_NETWORK, IPAM_TABLE } from '../proto/index.js'
import {
  DEFAULT_GLOBAL_POOLS, DEFAULT_LOCAL_POOLS, resolvePredefined, type PredefinedPool, type ResolvedPool
} from './pools.js'

export interface IpamConfig {
  /** NetworkDB network every IPAM node joins, and the table it writes. */
  nid: string
  table: string
  /**
   * This node creates the cluster's address space (it owns everything at first, and gives space
   * away on request). Exactly one node of a cluster does, once: the one that started the cluster
   * (no join seeds). Nodes that join learn the space from it, so a new cluster cannot be split
   * twice — Weave's "seeded by different peers" cannot happen. Ignored once a space is known.
   */
  bootstrap: boolean
  /** GlobalDefault predefined pools (Docker's default-address-pools). */
  globalPools: readonly PredefinedPool[]
  /** LocalDefault predefined pools. */
  localPools: readonly PredefinedPool[]
  /** Advertise `requiresMACAddress`; a request with a MAC that holds an address gets it again. */
  requiresMACAddress: boolean
  /** How long to wait for a peer's answer (space, a range, joining a pool) before giving up. */
  requestTimeoutMs: number
  /** Donors tried for one request before answering "no space" (each asked once). */
  maxDonors: number
  /** Coalesce usage-only updates of ring records (counts of used and free addresses) when a count crossed zero. */
  publishDelayMs: number
  /** Coalesce the other usage-only updates of ring records (space-replication.ts). */
  usagePublishMs: number
  /** Retry pending pool leaves and expire stale answers this often. */
  reconcileIntervalMs: number
  /**
   * Version added by `reclaim(node)`: far above anything the dead node can have reached alone, so
   * if it was in fact alive in a partition, the reclaim still wins everywhere once merged.
   */
  reclaimBump: number
}

export const defaultIpamConfig: Readonly<IpamConfig> = Object.freeze({
  nid: IPAM_NETWORK,
  table: IPAM_TABLE,
  bootstrap: false,
  globalPools: DEFAULT_GLOBAL_POOLS,
  localPools: DEFAULT_LOCAL_POOLS,
  requiresMACAddress: false,
  requestTimeoutMs: 5_000,
  maxDonors: 3,
  publishDelayMs: 500,
  usagePublishMs: 5_000,
  reconcileIntervalMs: 5_000,
  reclaimBump: 1_000_000
})

export interface ResolvedIpamConfig extends IpamConfig {
  global: ResolvedPool[]
  local: ResolvedPool[]
}

export function resolveIpamConfig (overrides: Partial<IpamConfig> = {}): ResolvedIpamConfig {
  const cfg: IpamConfig = { ...defaultIpamConfig, ...overrides }
  for (const k of [
    'requestTimeoutMs', 'maxDonors', 'publishDelayMs', 'usagePublishMs', 'reconcileIntervalMs', 'reclaimBump'
  ] as const) {
    const v = cfg[k]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RangeError(`ipam config ${k} must be a non-negative number, got ${String(v)}`)
    }
  }
  if (cfg.maxDonors < 1) throw new RangeError('ipam config maxDonors must be at least 1')
  if (cfg.reclaimBump < 1) throw new RangeError('ipam config reclaimBump must be at least 1')
  return { ...cfg, global: resolvePredefined(cfg.globalPools), local: resolvePredefined(cfg.localPools) }
}
