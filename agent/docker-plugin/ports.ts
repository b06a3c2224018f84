/**
 * What the plugin needs of the agent: the controller's cluster networks and hand-off endpoints
 * (agent/controller.ts implements this), and the IPAM contract for pools Docker asks for without
 * naming a cluster network.
 */
import type { Ipam } from '../../ipam/index.js'
import type { NetworkRecord } from '../../proto/index.js'
import type { NetworkCreateRequest, NetworkCreateResponse } from '../api-types.js'
import type { LocalEndpoint } from '../local-state.js'

export interface PluginController {
  /** The network with this exact name or id, if this host knows it (throws if a name is ambiguous). */
  findNetwork(nameOrId: string): NetworkRecord | undefined
  createNetwork(req: NetworkCreateRequest, opts?: { exclude?: string[] }): Promise<NetworkCreateResponse>
  removeNetwork(network: string): Promise<void>
  /** An address of the cluster network (CIDR), held until released. */
  requestAddress(nid: string, ip: string | undefined, options: Record<string, string>): Promise<string>
  releaseAddress(nid: string, ip: string): Promise<void>
  attachHandoff(
    nid: string, req: { eid: string, name: string, address: string, mac: string, handoff: string }
  ): Promise<{ gateway: string }>
  detachHandoff(eid: string): Promise<void>
  localEndpoint(eid: string): LocalEndpoint | undefined
}

export type PluginIpam = Pick<
  Ipam, 'getDefaultAddressSpaces' | 'capabilities' | 'requestPool' | 'releasePool' | 'requestAddress' | 'releaseAddress'
>
