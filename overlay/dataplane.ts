/**
 * The Dataplane port: every kernel operation the overlay driver needs, and nothing else. Two
 * adapters: `LinuxDataplane` (iproute2, real namespaces) and `MemoryDataplane` (unit tests).
 *
 * Contract shared by both (the driver relies on it):
 * - Idempotent everywhere. Writes have REPLACE semantics (an existing entry, including one the
 *   kernel learnt or one left by an earlier run, is overwritten, never an EEXIST — the root of
 *   moby#53663); removing something absent is not an error.
 * - `apply` programs a whole list of FDB/neighbour ops as ONE batch (one process per tool on
 *   Linux, never one per entry), in list order per table.
 * - Only `self` FDB entries of the vxlan device (those with a remote `dst`) and neighbour entries
 *   of the vxlan device are the driver's business; reads return exactly those.
 */

/** Device names inside every sandbox (the sandbox is a namespace of its own, so they are fixed). */
export const SANDBOX_BRIDGE = 'br0'
export const SANDBOX_VXLAN = 'vxlan0'
/**
 * The sandbox side of the agent's egress uplink (a veth, agent/egress/uplink.ts). Not the
 * dataplane's to create, but a device a sandbox may hold: repairs of a sandbox keep it.
 */
export const SANDBOX_UPLINK = 'uplink0'
export const DEFAULT_VXLAN_PORT = 4789
/** Inner Ethernet 14 + outer IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50

/** Everything that defines a network's sandbox on one host. */
export interface SandboxSpec {
  /** Network namespace name, `ovnet-<node name>-<first 12 chars of nid>`. */
  name: string
  vni: number
  /** This host's VTEP (underlay) address; the vxlan device's `local`. */
  vtep: string
  /** UDP destination port of the VXLAN tunnel. */
  dstPort: number
  /** MTU of the vxlan device, the bridge and the veths. */
  mtu: number
  /** Gateway of the network in CIDR form, put on the bridge; undefined when there is none. */
  gateway?: string
  /**
   * Who created the sandbox (e.g. "ovnet:<node>:<nid>"; letters, digits and ._:/-), kept with
   * it (the bridge's alias on Linux) so a restarted agent recognizes its own sandboxes exactly.
   */
  owner?: string
}

/** A container's attachment: a veth pair between the sandbox bridge and the container's netns. */
export interface EndpointSpec {
  /** Sandbox (netns) the endpoint's bridge side lives in. */
  sandbox: string
  eid: string
  /** The container's network namespace: a name (in /run/netns) or a path. Unused with `handoff`. */
  containerNetns: string
  /** Interface name inside the container, e.g. "eth0"; with `handoff`, its name in the agent's namespace. */
  ifName: string
  /**
   * Docker's way (libnetwork's Join hands the driver's `SrcName` to the runtime): leave the
   * container side in the agent's own (host) namespace as `ifName`, with the endpoint's MAC and
   * MTU and nothing else; the runtime moves it into the container, renames it and gives it its
   * address and routes. A host side already on the bridge is kept rather than rebuilt: after an
   * agent restart its peer is inside a running container, and rebuilding would cut it off.
   */
  handoff?: boolean
  mac: string
  /** CIDR, e.g. "10.0.0.5/24". */
  address: string
  /** Default route via this IP when set. */
  gateway?: string
  mtu: number
}

export type PeerOp =
  | { op: 'add', kind: 'fdb', mac: string, dst: string }
  | { op: 'del', kind: 'fdb', mac: string }
  | { op: 'add', kind: 'neigh', ip: string, mac: string }
  | { op: 'del', kind: 'neigh', ip: string }

/** A vxlan FDB entry. `permanent` is false for kernel-learned (dynamic) entries. */
export interface FdbEntry { mac: string, dst: string, permanent: boolean }
/** A neighbour entry on the vxlan device. `permanent` false means any other NUD state. */
export interface NeighEntry { ip: string, mac: string | undefined, permanent: boolean }

export interface PeerTables { fdb: FdbEntry[], neigh: NeighEntry[] }

/** What exists of a sandbox, as read back from the kernel (for adoption after a crash). */
export interface SandboxState {
  name: string
  /** The spec's owner tag, if the sandbox has one. */
  owner: string | undefined
  /** undefined when the vxlan device is missing. */
  vni: number | undefined
  vtep: string | undefined
  dstPort: number | undefined
  mtu: number | undefined
  /** Bridge addresses, CIDR. */
  bridgeAddrs: string[]
  /** Endpoint keys (first 12 chars of each eid) of the veths on the bridge. */
  endpoints: string[]
  /**
   * Set when the name is there but is no usable network namespace (a /run/netns file left without
   * its bind mount by a killed agent, a file or mount of something else): why. Nothing else is known.
   */
  unusable?: string
}

export interface Dataplane {
  /**
   * Create the sandbox or bring an existing one to `spec` (a mismatching vxlan is rebuilt).
   * Resolves true when its vxlan device was made now: its FDB and neighbour tables are empty.
   */
  ensureSandbox(spec: SandboxSpec): Promise<boolean>
  /** Delete the sandbox and everything in it; absent is fine. */
  removeSandbox(name: string): Promise<void>
  /** Create (or re-create) the endpoint's veth pair and configure the container side (or hand it off). */
  addEndpoint(spec: EndpointSpec): Promise<void>
  /** Remove the endpoint's veth pair; absent is fine. */
  removeEndpoint(sandbox: string, eid: string): Promise<void>
  /** Program FDB + neighbour ops in one batch. */
  apply(sandbox: string, ops: readonly PeerOp[]): Promise<void>
  /** The vxlan device's FDB (remote entries only) and neighbour table. */
  readTables(sandbox: string): Promise<PeerTables>
  /** Sandboxes whose name starts with `prefix` (those this node created, found after a restart). */
  listSandboxes(prefix: string): Promise<SandboxState[]>
  /** MTU of the underlay interface holding `addr`, undefined if no interface holds it. */
  underlayMtu(addr: string): Promise<number | undefined>
  /** Release what the adapter holds between calls (long-lived processes); the kernel state stays. */
  close?(): void
}

/** `not-netns`: the name exists under /run/netns but is no network namespace (stale or foreign file). */
export type DataplaneErrorCode = 'no-sandbox' | 'no-netns' | 'not-netns' | 'command' | 'invalid'

export class DataplaneError extends Error {
  constructor (readonly code: DataplaneErrorCode, message: string, readonly detail?: string) {
    super(message)
    this.name = 'DataplaneError'
  }
}

/** The sandbox's namespace name: node name + first 12 chars of the network id. */
export function sandboxName (nodeName: string, nid: string): string {
  return `${sandboxPrefix(nodeName)}${nid.slice(0, 12)}`
}

export function sandboxPrefix (nodeName: string): string {
  return `ovnet-${nodeName}-`
}

/** The key that names an endpoint's devices: first 12 chars of its id (fits IFNAMSIZ with a prefix). */
export function endpointKey (eid: string): string {
  return eid.slice(0, 12)
}
