/**
 * Docker's remote plugin protocols, as dockerd (libnetwork's remote driver and remote IPAM)
 * speaks them: HTTP POST of JSON to `/<Interface>.<Method>` on the plugin's unix socket, replies
 * in the plugin content type, errors as `{"Err": "..."}` with a non-2xx status (Docker's IPAM
 * client reads an error only from a non-2xx reply). Field names are Docker's, unchanged.
 *
 * Request bodies are validated here, at the boundary. Schemas require what Docker always sends
 * and what the handler needs; unknown fields are ignored (newer dockerds add some), and Go's nil
 * maps arrive as `null`, so optional maps are nullish.
 */
import { isIP } from 'node:net'
import { z } from 'zod'

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/ovnet.sock'

/** `-o ovnet.network=NAME` / `--ipam-opt ovnet.network=NAME`: the ovnet cluster network. */
export const NETWORK_OPTION = 'ovnet.network'
/** Where Docker puts a network's `-o` options in CreateNetwork. */
export const GENERIC_OPTIONS = 'com.docker.network.generic'
/** netlabel.MacAddress, also the key of EndpointOperInfo's MAC. */
export const MAC_OPTION = 'com.docker.network.endpoint.macaddress'

/** The reply body of every failed call. */
export interface ErrResponse { Err: string }

const id = (field: string) => z.string({ error: `${field} must be a string` }).min(1, { error: `${field} is empty` })
const stringMap = z.record(z.string(), z.string(), { error: 'must be a map of strings' }).nullish()
const anyMap = z.record(z.string(), z.unknown(), { error: 'must be an object' }).nullish()
const ipv4 = (field: string) => z.string({ error: `${field} must be a string` })
  .refine(s => isIP(s) === 4, { error: iss => `invalid IP address: ${String(iss.input)}` })

// ---- IpamDriver -----------------------------------------------------------------------------

export const RequestPoolRequest = z.object({
  AddressSpace: z.string({ error: 'AddressSpace must be a string' }),
  Pool: z.string({ error: 'Pool must be a string' }).optional(),
  SubPool: z.string({ error: 'SubPool must be a string' }).optional(),
  Options: stringMap,
  V6: z.boolean({ error: 'V6 must be a boolean' }).optional()
})
export type RequestPoolRequest = z.infer<typeof RequestPoolRequest>
export interface RequestPoolResponse { PoolID: string, Pool: string, Data: Record<string, string> }

export const ReleasePoolRequest = z.object({ PoolID: id('PoolID') })

export const RequestAddressRequest = z.object({
  PoolID: id('PoolID'),
  /** A preferred address ("" or absent: any). */
  Address: z.string({ error: 'Address must be a string' }).optional(),
  Options: stringMap
})
export type RequestAddressRequest = z.infer<typeof RequestAddressRequest>
export interface RequestAddressResponse { Address: string, Data: Record<string, string> }

export const ReleaseAddressRequest = z.object({ PoolID: id('PoolID'), Address: ipv4('Address') })

export interface IpamCapabilitiesResponse { RequiresMACAddress: boolean, RequiresRequestReplay: boolean }
export interface AddressSpacesResponse { LocalDefaultAddressSpace: string, GlobalDefaultAddressSpace: string }

// ---- NetworkDriver --------------------------------------------------------------------------

const IpamData = z.object({
  AddressSpace: z.string().optional(),
  Pool: z.string({ error: 'Pool must be a string' }),
  Gateway: z.string().optional(),
  AuxAddresses: anyMap
})

export const CreateNetworkRequest = z.object({
  NetworkID: id('NetworkID'),
  Options: anyMap,
  IPv4Data: z.array(IpamData, { error: 'IPv4Data must be a list' }).nullish(),
  IPv6Data: z.array(IpamData, { error: 'IPv6Data must be a list' }).nullish()
})
export type CreateNetworkRequest = z.infer<typeof CreateNetworkRequest>

export const NetworkRequest = z.object({ NetworkID: id('NetworkID') })

export const CreateEndpointRequest = z.object({
  NetworkID: id('NetworkID'),
  EndpointID: id('EndpointID'),
  Interface: z.object({
    Address: z.string().optional(),
    AddressIPv6: z.string().optional(),
    MacAddress: z.string().optional()
  }, { error: 'Interface must be an object' }).nullish(),
  Options: anyMap
})
export type CreateEndpointRequest = z.infer<typeof CreateEndpointRequest>
export interface CreateEndpointResponse { Interface: { MacAddress?: string } }

/** DeleteEndpoint, EndpointOperInfo, Leave, Program/RevokeExternalConnectivity. */
export const EndpointRequest = z.object({ NetworkID: id('NetworkID'), EndpointID: id('EndpointID'), Options: anyMap })
export type EndpointRequest = z.infer<typeof EndpointRequest>

export const JoinRequest = z.object({
  NetworkID: id('NetworkID'),
  EndpointID: id('EndpointID'),
  SandboxKey: z.string({ error: 'SandboxKey must be a string' }),
  Options: anyMap
})
export type JoinRequest = z.infer<typeof JoinRequest>
export interface JoinResponse {
  InterfaceName: { SrcName: string, DstPrefix: string }
  Gateway: string
  StaticRoutes: Array<{ Destination: string, RouteType: number, NextHop: string }>
  DisableGatewayService: boolean
}

export const DiscoveryRequest = z.object({
  DiscoveryType: z.number({ error: 'DiscoveryType must be a number' }).int(),
  DiscoveryData: z.unknown()
})

export const AllocateNetworkRequest = z.object({
  NetworkID: id('NetworkID'),
  Options: anyMap,
  IPv4Data: z.array(IpamData).nullish(),
  IPv6Data: z.array(IpamData).nullish()
})

export interface NetworkCapabilitiesResponse { Scope: 'local' | 'global', ConnectivityScope: 'local' | 'global' }
