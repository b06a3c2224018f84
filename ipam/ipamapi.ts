/**
 * The IPAM contract, mirrored from libnetwork's ipamapi (and the remote IPAM protocol's
 * GetCapabilities): the same interface, request and result types and well-known errors, in
 * camelCase. Addresses are strings: an IP as "10.0.0.1", a Go *net.IPNet as CIDR "10.0.0.5/24".
 * Methods that may talk to the cluster return promises.
 */
import type { ErrorKind } from '../core/index.js'

/** Endpoint type used by the plugin system. */
export const PluginEndpointType = 'IpamDriver'
/** Option key telling what kind of address is requested (value: `Gateway`). */
export const RequestAddressType = 'RequestAddressType'
/** libnetwork's reserved label space. */
export const Prefix = 'com.docker.network'
/** Option `=true`: allocate after the last address handed out (wrapping) instead of the lowest free one. */
export const AllocSerialPrefix = `${Prefix}.ipam.serial`
/** netlabel.Gateway: the value of `RequestAddressType` that asks for the pool's gateway. */
export const Gateway = `${Prefix}.gateway`
/** netlabel.MacAddress: the endpoint's MAC, passed when the driver requires it. */
export const MacAddress = `${Prefix}.endpoint.macaddress`

/** The default address spaces of this driver. */
export const LocalDefault = 'LocalDefault'
export const GlobalDefault = 'GlobalDefault'

/**
 * ovnet option naming the cluster network a pool request is for (its id, or a cluster-unique name).
 * Requests carrying the same value from several hosts share one pool (reference counted per host);
 * without it every request is a separate pool. It lives outside `com.docker.network.*`, which
 * libnetwork reserves for itself; users pass it as `--ipam-opt ovnet.ipam.network=<id>`.
 */
export const NetworkOption = 'ovnet.ipam.network'

/**
 * ovnet option of a static pool request: the address the pool keeps as its network's gateway.
 * When the request creates the pool (the first host to use the network, or the first after every
 * host gave the pool up), the gateway is in the pool record from the start, so no host can hand
 * it out before some host asks for it (`RequestAddressType: Gateway`). Ignored when the pool exists.
 */
export const GatewayOption = 'ovnet.ipam.gateway'

export interface PoolRequest {
  /** Mandatory: which block of pools to allocate from (LocalDefault or GlobalDefault here). */
  addressSpace: string
  /** A prefix in CIDR notation: a static request for exactly this pool. Empty: dynamic. */
  pool?: string
  /** A subnet of `pool` (CIDR) from which addresses are dynamically allocated. Needs `pool`. */
  subPool?: string
  /** Opaque driver options. */
  options?: Record<string, string>
  /** Address family of a dynamic request. */
  v6: boolean
  /** Prefixes a dynamic request must not overlap (e.g. host routes the caller saw). */
  exclude?: string[]
}

export interface AllocatedPool {
  /** Opaque to callers: only this driver interprets it. */
  poolId: string
  /** The allocated prefix, CIDR. */
  pool: string
  /** Extra data reserved with the pool, keyed by netlabel strings. */
  meta: Record<string, string>
}

export interface AllocatedAddress {
  /** The address with the pool's prefix length, CIDR (Go's *net.IPNet). */
  address: string
  meta: Record<string, string>
}

/** Requirements and capabilities of the driver (remote protocol: /IpamDriver.GetCapabilities). */
export interface Capability {
  /** libnetwork must pass the endpoint's MAC (option `MacAddress`) when requesting an address. */
  requiresMACAddress: boolean
  /** libnetwork must replay pool and address requests of local networks at daemon start. */
  requiresRequestReplay: boolean
}

export interface DefaultAddressSpaces { local: string, global: string }

export interface Ipam {
  getDefaultAddressSpaces(): Promise<DefaultAddressSpaces>
  /** Allocate a pool statically (`pool` given) or dynamically. */
  requestPool(req: PoolRequest): Promise<AllocatedPool>
  releasePool(poolId: string): Promise<void>
  /** Request an address of the pool: `ip` if given (an IP, no prefix), else a free one. */
  requestAddress(poolId: string, ip: string | undefined, options: Record<string, string>): Promise<AllocatedAddress>
  releaseAddress(poolId: string, ip: string): Promise<void>
  isBuiltIn(): boolean
  capabilities(): Capability
}

// ---- errors ------------------------------------------------------------------------------------

/** libnetwork's types categories: core's one union, which the agent maps to HTTP statuses. */
export type IpamErrorKind = ErrorKind

export class IpamError extends Error {
  readonly kind: IpamErrorKind = 'internal'
  constructor (message: string) { super(message); this.name = new.target.name }
}

export class ErrInvalidAddressSpace extends IpamError {
  override readonly kind = 'badRequest'
  constructor () { super('invalid address space') }
}

export class ErrInvalidPool extends IpamError {
  override readonly kind = 'badRequest'
  constructor () { super('invalid address pool') }
}

export class ErrInvalidSubPool extends IpamError {
  override readonly kind = 'badRequest'
  constructor () { super('invalid address subpool') }
}

export class ErrNoAvailableIPs extends IpamError {
  override readonly kind = 'unavailable'
  constructor () { super('no available addresses on this pool') }
}

export class ErrNoIPReturned extends IpamError {
  override readonly kind = 'unavailable'
  constructor () { super('no address returned') }
}

export class ErrIPAlreadyAllocated extends IpamError {
  override readonly kind = 'forbidden'
  constructor () { super('Address already in use') }
}

export class ErrIPOutOfRange extends IpamError {
  override readonly kind = 'badRequest'
  constructor () { super('requested address is out of range') }
}

export class ErrPoolOverlap extends IpamError {
  override readonly kind = 'forbidden'
  constructor () { super('Pool overlaps with other one on this address space') }
}

export class ErrBadPool extends IpamError {
  override readonly kind = 'badRequest'
  constructor () { super('address space does not contain specified address pool') }
}

export class ErrNoMoreSubnets extends IpamError {
  override readonly kind = 'unavailable'
  constructor () { super('all predefined address pools have been fully subnetted') }
}

// ---- ovnet's additions (no libnetwork counterpart) ---------------------------------------------

/** A pool id this host does not hold (never requested here, or released). */
export class ErrPoolNotFound extends IpamError {
  override readonly kind = 'notFound'
  constructor (readonly poolId: string) { super(`cannot find address pool for poolID:${poolId}`) }
}

/** An address that is not an IP of the pool's family. */
export class ErrInvalidAddress extends IpamError {
  override readonly kind = 'badRequest'
  constructor (readonly address: string) { super(`invalid address: ${address}`) }
}

/**
 * Safety could not be decided: the node that owns the part of the space a request needs is
 * unreachable (or unknown), so answering might hand out something another host holds.
 */
export class ErrIpamUnavailable extends IpamError {
  override readonly kind = 'unavailable'
  constructor (detail: string) { super(`ipam cannot decide safely: ${detail}`) }
}

/** `reclaim` of a node that is alive, or of this node. */
export class ErrReclaimRefused extends IpamError {
  override readonly kind = 'forbidden'
}

/** The IPAM is not started, or closed. */
export class ErrIpamClosed extends IpamError {
  override readonly kind = 'unavailable'
  constructor () { super('ipam is not running') }
}
