/**
 * The overlay driver's status snapshot: one plain structure behind `inspect --verbose`, the JSON
 * output and the metrics.
 */
import type { ReconcileReport } from './reconciler.js'
import type { VniConflict } from './vni.js'

export type SandboxStatus = 'absent' | 'ready'

/** How a sandbox found at start (a previous run's) was taken over. */
export type SandboxOrigin = 'created' | 'adopted' | 'rebuilt'

export interface LocalEndpointStatus {
  eid: string
  address: string
  mac: string
  joined: boolean
  /** Container namespace (sandbox key) when joined. */
  containerNetns?: string
}

/**
 * A remote announcement: `programmed` = its FDB and neighbour entries are in the kernel;
 * `pending` = it should be but is not yet (no sandbox here, batch not flushed, kernel error);
 * `shadowed` = a newer announcement (or a local endpoint) holds its IP or MAC.
 */
export type PeerProgramState = 'programmed' | 'pending' | 'shadowed'

export interface PeerStatus {
  eid: string
  endpointIP: string
  endpointMAC: string
  tunnelEndpointIP: string
  state: PeerProgramState
}

export interface NetworkStatus {
  nid: string
  vni: number
  subnet: string
  gateway: string | undefined
  sandbox: string
  sandboxStatus: SandboxStatus
  origin: SandboxOrigin | undefined
  mtu: number | undefined
  /** VXLAN between hosts inside WireGuard (the `encrypted` option). */
  encrypted: boolean
  endpoints: LocalEndpointStatus[]
  peers: PeerStatus[]
  lastReconcile: ReconcileReport | undefined
  lastError: string | undefined
}

export interface OverlayStatus {
  node: string
  vtep: string
  dstPort: number
  networks: NetworkStatus[]
  /** Announcements of networks this driver has not (yet) created, by network id. */
  pendingNetworks: Record<string, number>
  /** Sandboxes of a previous run not yet adopted (removed when restore completes). */
  unclaimedSandboxes: string[]
  vniConflicts: VniConflict[]
}
