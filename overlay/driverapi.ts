/**
 * The network driver contract, mirrored from libnetwork's driverapi (current version, with the
 * older one's EventNotify/AddTableEntry concepts): same interfaces, same method names in
 * camelCase. Addresses are strings: an IP as "10.0.0.1", a Go *net.IPNet as CIDR "10.0.0.5/24",
 * a MAC as "02:42:0a:00:00:05". Methods that touch the kernel or the cluster return promises;
 * Go's context argument is left out (callers cancel by not awaiting).
 */
import type { ErrorKind } from '../core/index.js'

/** Endpoint type used by the plugin system. */
export const NETWORK_PLUGIN_ENDPOINT_TYPE = 'NetworkDriver'

/** Options key carrying the driver's generic `-o` options (a string map). */
export const GENERIC_DATA = 'com.docker.network.generic'
/** Network option: MTU of the network's interfaces. */
export const DRIVER_MTU = 'com.docker.network.driver.mtu'

export type Scope = 'local' | 'global' | 'swarm'

/** The high-level capabilities of a driver that the controller makes use of. */
export interface Capability {
  dataScope: Scope
  connectivityScope: Scope
}

/** What a driver stores in the cluster's tables, per table it registers. */
export const ObjectType = {
  /** Data of a libnetwork endpoint (the key is an endpoint id). */
  EndpointObject: 1,
  /** Data of a libnetwork network (the key is a network id). */
  NetworkObject: 2,
  /** Driver-specific data with no corresponding libnetwork object. */
  OpaqueObject: 3
} as const
export type ObjectType = typeof ObjectType[keyof typeof ObjectType]

export function isValidType (t: number): t is ObjectType {
  return t === ObjectType.EndpointObject || t === ObjectType.NetworkObject || t === ObjectType.OpaqueObject
}

/** Per-network IP data the controller hands the driver in createNetwork (from IPAM). */
export interface IPAMData {
  addressSpace: string
  /** The subnet, CIDR. */
  pool: string
  /** The gateway with the pool's prefix length, CIDR; undefined when the network has none. */
  gateway?: string
  auxAddresses?: Record<string, string>
}

/** Route types of addStaticRoute (libnetwork types.NEXTHOP / types.CONNECTED). */
export const RouteType = { NextHop: 0, Connected: 1 } as const
export type RouteType = typeof RouteType[keyof typeof RouteType]

/** Drivers give network-specific information to the controller through this. */
export interface NetworkInfo {
  /** Register interest in a table: its events reach TableWatcher.eventNotify for this network. */
  tableEventRegister(tableName: string, objType: ObjectType): void
  /** Update the network's IPAM configuration from what the driver learnt. */
  updateIpamConfig(ipV4Data: IPAMData[]): void
}

/** The endpoint's interface as seen by the driver in createEndpoint. */
export interface InterfaceInfo {
  /** Set the MAC if none is set yet. */
  setMacAddress(mac: string): void
  /** Set the IPv4 or IPv6 address (CIDR) if none of that family is set yet. */
  setIPAddress(cidr: string): void
  macAddress(): string | undefined
  /** IPv4 address, CIDR. */
  address(): string | undefined
  /** IPv6 address, CIDR. */
  addressIPv6(): string | undefined
  /** Path of the container's network namespace if known, else "". */
  netnsPath(): string
  /** The driver created the interface inside the container's namespace (no move needed). */
  setCreatedInContainer(created: boolean): void
}

/** Names of the interface; dstName takes precedence over dstPrefix. */
export interface InterfaceNameInfo {
  setNames(srcName: string, dstPrefix: string, dstName: string): void
}

/** Resources the driver can provide at join time. */
export interface JoinInfo {
  interfaceName(): InterfaceNameInfo | undefined
  /** Default IPv4 gateway (an IP) for the container. */
  setGateway(ip: string): void
  setGatewayIPv6(ip: string): void
  /** A route in the container, in addition to or instead of the default gateway. */
  addStaticRoute(destination: string, routeType: RouteType, nextHop: string): void
  /** The controller must not provide a default gateway for the container. */
  disableGatewayService(): void
  forceGw4(): void
  forceGw6(): void
  /** Publish an entry in the gossip layer (NetworkDB) for this endpoint's network. */
  addTableEntry(tableName: string, key: string, value: Uint8Array): void
}

/** Every network driver implements this. */
export interface Driver {
  /** Create a network; global-scope drivers register their tables through nInfo. */
  createNetwork(
    nid: string, options: Record<string, unknown>, nInfo: NetworkInfo, ipV4Data: IPAMData[], ipV6Data: IPAMData[]
  ): Promise<void>
  deleteNetwork(nid: string): Promise<void>
  /** Create an endpoint; the driver may fill in the MAC/IP through ifInfo. */
  createEndpoint(nid: string, eid: string, ifInfo: InterfaceInfo, options: Record<string, unknown>): Promise<void>
  deleteEndpoint(nid: string, eid: string): Promise<void>
  /** Operational data of an endpoint. */
  endpointOperInfo(nid: string, eid: string): Promise<Record<string, unknown>>
  /** Attach a container (its sandbox key: a netns name or path) to the endpoint. */
  join(
    nid: string,
    eid: string,
    sboxKey: string,
    jinfo: JoinInfo,
    epOpts: Record<string, unknown>,
    sbOpts: Record<string, unknown>
  ): Promise<void>
  leave(nid: string, eid: string): Promise<void>
  /** The network type this driver manages. */
  type(): string
  isBuiltIn(): boolean
}

/** A driver that allocates cluster-wide network resources (e.g. VNIs) before networks exist. */
export interface NetworkAllocator {
  /** Allocate network-specific resources; returns the driver's allocations as options. */
  networkAllocate(
    nid: string, options: Record<string, string>, ipV4Data: IPAMData[], ipV6Data: IPAMData[]
  ): Promise<Record<string, string>>
  networkFree(nid: string): Promise<void>
  isBuiltIn(): boolean
}

/** Optional: a driver told about changes of the tables it registered. */
export interface TableWatcher {
  /**
   * A create/update/delete happened on a registered table. `value` is undefined for a delete,
   * `prev` for a create. Called synchronously in the gossip layer's order; must not block.
   */
  eventNotify(
    nid: string, tableName: string, key: string, prev: Uint8Array | undefined, value: Uint8Array | undefined
  ): void
  /**
   * Decode an entry for display: [object id, user-facing info]. For endpoint tables the id is the
   * endpoint id; the overlay driver answers the VTEP as {"Host IP": ...}.
   */
  decodeTableEntry(tableName: string, key: string, value: Uint8Array): [string, Record<string, string>]
}

/** Dynamic registration of drivers with the controller. */
export interface Registerer {
  registerDriver(name: string, driver: Driver, capability: Capability): void
  registerNetworkAllocator(name: string, driver: NetworkAllocator): void
}

// ---- errors -----------------------------------------------------------------------------------

/** Error categories: core's one union (libnetwork's types package); callers map them to statuses. */
export type { ErrorKind }

export class DriverError extends Error {
  readonly kind: ErrorKind = 'internal'
  constructor (message: string) { super(message); this.name = new.target.name }
}

/** types.InvalidParameterError: bad options, bad addresses. */
export class InvalidParameterError extends DriverError {
  override readonly kind = 'badRequest'
}

/** ErrNoNetwork: no network with this id is known to the driver. */
export class NoNetworkError extends DriverError {
  override readonly kind = 'notFound'
  constructor (readonly nid: string) { super(`network ${nid} not found`) }
}

/** ErrNoEndpoint: no endpoint with this id. */
export class NoEndpointError extends DriverError {
  override readonly kind = 'notFound'
  constructor (readonly eid: string) { super(`endpoint ${eid} not found`) }
}

/** ErrEndpointExists: an endpoint with this id is already in the network. */
export class EndpointExistsError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly eid: string) { super(`endpoint with name ${eid} already exists`) }
}

/** ErrActiveRegistration: a driver is already registered for this network type. */
export class ActiveRegistrationError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly networkType: string) { super(`a driver for network type ${networkType} is already registered`) }
}

/** ErrNotImplemented. */
export class NotImplementedError extends DriverError {
  override readonly kind = 'notImplemented'
  constructor (what = 'this operation') { super(`${what} is not implemented`) }
}

/** ActiveEndpointsError: a network still has endpoints. */
export class ActiveEndpointsError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly nid: string, readonly count: number) { super(`network ${nid} has active endpoints (${count})`) }
}

/** types.ForbiddenError for a second join of an endpoint (ErrInvalidJoin). */
export class InvalidJoinError extends DriverError {
  override readonly kind = 'forbidden'
  constructor (readonly eid: string) { super(`endpoint ${eid} is already joined to a sandbox`) }
}
