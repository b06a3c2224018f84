/**
 * The overlay driver's per-network state (one record per created network) and its status view.
 * Mutated only by the driver and its kernel scheduler; kernel-touching fields only under the
 * network's kernel lock.
 */
import { SerialQueue, type TimerHandle } from '../core/index.js'
import type { SandboxSpec } from './dataplane.js'
import type { PeerDB } from './peerdb.js'
import type { ReconcileReport, SandboxProgrammer } from './reconciler.js'
import { SharedLock } from './shared-lock.js'
import type { NetworkStatus, PeerProgramState, SandboxOrigin } from './status.js'

export interface Endpoint {
  eid: string
  /** CIDR. */
  address: string
  ip: string
  mac: string
  state: 'created' | 'joining' | 'joined'
  containerNetns?: string
}

export interface Net {
  nid: string
  vni: number
  subnet: string
  gateway: string | undefined
  mtuOption: number | undefined
  /** VXLAN inside WireGuard between hosts (encryption.ts). */
  encrypted: boolean
  sandbox: string
  endpoints: Map<string, Endpoint>
  /** Devices of the sandbox: exclusive; endpoints and peer programming: shared (shared-lock.ts). */
  lock: SharedLock
  /** FDB/neighbour flushes and reconciliations of the sandbox, one at a time, in order. */
  programming: SerialQueue
  /** Present while the sandbox exists. */
  programmer: SandboxProgrammer | undefined
  spec: SandboxSpec | undefined
  origin: SandboxOrigin | undefined
  /** Endpoint keys found in an adopted sandbox; those not joined again are removed later. */
  staleKeys: string[]
  flushTimer: TimerHandle | undefined
  retryTimer: TimerHandle | undefined
  retryDelay: number
  /** A kernel operation failed (state unknown): the next sync is a full reconcile. */
  needsReconcile: boolean
  lastReconcile: ReconcileReport | undefined
  lastError: string | undefined
}

export function newNet (
  init: Pick<Net, 'nid' | 'vni' | 'subnet' | 'gateway' | 'mtuOption' | 'encrypted' | 'sandbox'>
): Net {
  return {
    ...init,
    endpoints: new Map(),
    lock: new SharedLock(),
    programming: new SerialQueue(),
    programmer: undefined,
    spec: undefined,
    origin: undefined,
    staleKeys: [],
    flushTimer: undefined,
    retryTimer: undefined,
    retryDelay: 0,
    needsReconcile: false,
    lastReconcile: undefined,
    lastError: undefined
  }
}

export function networkStatus (n: Net, pdb: PeerDB): NetworkStatus {
  return {
    nid: n.nid,
    vni: n.vni,
    subnet: n.subnet,
    gateway: n.gateway,
    sandbox: n.sandbox,
    sandboxStatus: n.spec === undefined ? 'absent' : 'ready',
    origin: n.origin,
    mtu: n.spec?.mtu,
    encrypted: n.encrypted,
    endpoints: [...n.endpoints.values()].map(e => ({
      eid: e.eid, address: e.address, mac: e.mac, joined: e.state === 'joined',
      ...(e.containerNetns === undefined ? {} : { containerNetns: e.containerNetns })
    })),
    peers: [...pdb.all()].map(p => {
      let state: PeerProgramState = 'shadowed'
      if (pdb.programmable(p)) state = n.programmer?.isProgrammed(p) === true ? 'programmed' : 'pending'
      return { eid: p.eid, endpointIP: p.cidr, endpointMAC: p.mac, tunnelEndpointIP: p.vtep, state }
    }).sort((a, b) => a.eid.localeCompare(b.eid)),
    lastReconcile: n.lastReconcile,
    lastError: n.lastError
  }
}
