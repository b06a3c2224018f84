/**
 * Docker's remote NetworkDriver over ovnet's controller.
 *
 * A Docker network is local to its host (scope "local": no swarm, no cluster store); ovnet makes
 * the connectivity global (ConnectivityScope "global"). `-o ovnet.network=NAME` names the cluster
 * network it stands for (else the cluster network whose subnet Docker's IPAM data carries), which
 * must exist: the ovnet IPAM driver creates it (`--ipam-driver ovnet --ipam-opt ovnet.network=NAME`),
 * so that every address comes from the cluster IPAM.
 *
 * Endpoints: CreateEndpoint records Docker's id, address and MAC; Join has the controller plumb
 * and publish it exactly as `ovnet attach` does, except that the container side of the veth is
 * left in this namespace as `dk-<id>` (SrcName) for Docker to move and rename ("eth" prefix).
 */
import { isIP } from 'node:net'
import { inSubnet, macFromIPv4, type Logger } from '../../core/index.js'
import type { NetworkRecord } from '../../proto/index.js'
import { ENCRYPTED_OPTION } from '../../overlay/index.js'
import {
  ActiveEndpointsError, BadRequestError, ErrNoSuchEndpoint, ErrNoSuchNetwork, ErrInvalidJoin
} from '../errors.js'
import type { DockerIpamDriver } from './ipam-driver.js'
import {
  GENERIC_OPTIONS, MAC_OPTION, NETWORK_OPTION,
  type CreateEndpointRequest, type CreateEndpointResponse, type CreateNetworkRequest, type JoinRequest,
  type JoinResponse,
  type NetworkCapabilitiesResponse
} from './protocol.js'
import type { PluginController } from './ports.js'
import type { DockerEndpoint, DockerNetwork, PluginState } from './state.js'

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/
/** Prefix of the container side left for Docker: 3 + 12 characters fit IFNAMSIZ. */
export const HANDOFF_PREFIX = 'dk-'

/** The interface name Docker is told to move for an endpoint. */
export function handoffName (eid: string): string {
  return `${HANDOFF_PREFIX}${eid.slice(0, 12)}`
}

export interface NetworkDriverDeps {
  controller: PluginController
  state: PluginState
  ipam: DockerIpamDriver
  logger: Logger
}

export class DockerNetworkDriver {
  private readonly c: PluginController
  private readonly state: PluginState
  private readonly ipam: DockerIpamDriver
  private readonly log: Logger
  /** AllocateNetwork is swarm's (global scope): answered, remembered for FreeNetwork only. */
  private readonly allocated = new Set<string>()

  constructor (d: NetworkDriverDeps) {
    this.c = d.controller
    this.state = d.state
    this.ipam = d.ipam
    this.log = d.logger
  }

  capabilities (): NetworkCapabilitiesResponse {
    return { Scope: 'local', ConnectivityScope: 'global' }
  }

  async createNetwork (req: CreateNetworkRequest): Promise<void> {
    if (this.state.networks.has(req.NetworkID)) throw new BadRequestError(`network ${req.NetworkID} already exists`)
    if ((req.IPv6Data ?? []).length > 0) throw new BadRequestError('ovnet networks are IPv4 only')
    const v4 = req.IPv4Data ?? []
    if (v4.length !== 1) throw new BadRequestError(`an ovnet network has exactly one IPv4 subnet, got ${v4.length}`)
    const pool = v4[0]!.Pool
    const generic = req.Options?.[GENERIC_OPTIONS]
    const named = typeof generic === 'object' && generic !== null
      ? (generic as Record<string, unknown>)[NETWORK_OPTION]
      : undefined
    if (named !== undefined && (typeof named !== 'string' || named === '')) {
      throw new BadRequestError(`option ${NETWORK_OPTION} must be a network name`)
    }
    const rec = named !== undefined ? this.byName(named) : this.bySubnet(pool)
    if (rec === undefined) {
      const what = named ?? `with subnet ${pool}`
      throw new ErrNoSuchNetwork(
        `${what}: create the Docker network with --ipam-driver ovnet ` +
        `--ipam-opt ${NETWORK_OPTION}=NAME -o ${NETWORK_OPTION}=NAME`
      )
    }
    // `-o encrypted` on a cluster network that is not: refuse rather than carry it in clear.
    const wantsEncryption = typeof generic === 'object' && generic !== null && ENCRYPTED_OPTION in generic
    if (wantsEncryption && rec.options[ENCRYPTED_OPTION] === undefined) {
      throw new BadRequestError(`cluster network ${rec.name} is not encrypted: create it encrypted ` +
        `(--ipam-opt ${ENCRYPTED_OPTION}, or \`ovnet network create ${rec.name} --opt ${ENCRYPTED_OPTION}\`)`)
    }
    // Only addresses of the cluster IPAM are unique across hosts: the pool must be one this
    // plugin handed out (Docker's default IPAM would give every host the same .2).
    const ours = [...this.state.pools.values()].some(h => h.nid === rec.id && !h.superseded)
    if (rec.subnet !== pool || !ours) {
      throw new BadRequestError(
        `cluster network ${rec.name} (${rec.subnet}) needs its addresses from the ovnet IPAM, ` +
        `got the pool ${pool} from elsewhere: use --ipam-driver ovnet --ipam-opt ${NETWORK_OPTION}=${rec.name}`
      )
    }
    this.ipam.bind(rec.id)
    this.state.networks.set(req.NetworkID, { id: req.NetworkID, nid: rec.id, name: rec.name })
    await this.state.save()
    this.log.info({ docker: req.NetworkID, network: rec.name, nid: rec.id }, 'docker network created')
  }

  async deleteNetwork (id: string): Promise<void> {
    const n = this.network(id)
    const eps = this.state.endpointsOf(id)
    if (eps.length > 0) throw new ActiveEndpointsError(n.name, id)
    this.state.networks.delete(id)
    await this.state.save()
    this.log.info({ docker: id, network: n.name }, 'docker network deleted (the cluster network stays)')
  }

  async createEndpoint (req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const n = this.network(req.NetworkID)
    if (this.state.endpoints.has(req.EndpointID) || this.c.localEndpoint(req.EndpointID) !== undefined) {
      throw new BadRequestError(`endpoint ${req.EndpointID} already exists`)
    }
    const rec = this.cluster(n)
    const address = req.Interface?.Address ?? ''
    const [ip, len] = address.split('/')
    if (address === '') throw new BadRequestError('the endpoint has no IPv4 address: use the ovnet IPAM driver')
    if (ip === undefined || isIP(ip) !== 4 || len !== rec.subnet.split('/')[1] || !inSubnet(ip, rec.subnet)) {
      throw new BadRequestError(`endpoint address ${address} is not in subnet ${rec.subnet}`)
    }
    if ((req.Interface?.AddressIPv6 ?? '') !== '') throw new BadRequestError('ovnet networks are IPv4 only')
    const given = (req.Interface?.MacAddress ?? '').toLowerCase()
    if (given !== '' && !MAC_RE.test(given)) {
      throw new BadRequestError(`invalid MAC address ${req.Interface?.MacAddress}`)
    }
    const mac = given === '' ? macFromIPv4(address.split('/')[0]!) : given
    this.state.endpoints.set(req.EndpointID, { eid: req.EndpointID, network: req.NetworkID, nid: rec.id, address, mac })
    await this.state.save()
    // Docker refuses a reply that sets what it supplied: answer only the MAC it left to us.
    return { Interface: given === '' ? { MacAddress: mac } : {} }
  }

  async endpointOperInfo (network: string, eid: string): Promise<{ Value: Record<string, unknown> }> {
    const ep = this.endpoint(network, eid)
    const n = this.network(network)
    return {
      Value: { [MAC_OPTION]: ep.mac, [NETWORK_OPTION]: n.name, 'ovnet.joined': this.c.localEndpoint(eid) !== undefined }
    }
  }

  async deleteEndpoint (network: string, eid: string): Promise<void> {
    this.endpoint(network, eid)
    // Docker leaves first; after a failed Leave it may not have.
    if (this.c.localEndpoint(eid) !== undefined) await this.c.detachHandoff(eid)
    this.state.endpoints.delete(eid)
    await this.state.save()
  }

  async join (req: JoinRequest): Promise<JoinResponse> {
    const ep = this.endpoint(req.NetworkID, req.EndpointID)
    if (this.c.localEndpoint(ep.eid) !== undefined) throw new ErrInvalidJoin()
    const srcName = handoffName(ep.eid)
    const { gateway } = await this.c.attachHandoff(ep.nid, {
      eid: ep.eid, name: `docker-${ep.eid.slice(0, 12)}`, address: ep.address, mac: ep.mac, handoff: srcName
    })
    return {
      InterfaceName: { SrcName: srcName, DstPrefix: 'eth' }, Gateway: gateway, StaticRoutes: [],
      DisableGatewayService: false
    }
  }

  async leave (network: string, eid: string): Promise<void> {
    this.endpoint(network, eid)
    // Not joined any more (an agent stopped in between took its plumbing away): nothing to undo.
    if (this.c.localEndpoint(eid) === undefined) return
    await this.c.detachHandoff(eid)
  }

  /** Program/RevokeExternalConnectivity: nothing to do (no port mapping on the overlay). */
  async externalConnectivity (network: string, eid: string): Promise<void> {
    this.endpoint(network, eid)
  }

  async allocateNetwork (id: string): Promise<{ Options: Record<string, string> }> {
    this.allocated.add(id)
    return { Options: {} }
  }

  async freeNetwork (id: string): Promise<void> {
    if (!this.allocated.delete(id)) throw new ErrNoSuchNetwork(id)
  }

  // ---- lookups ------------------------------------------------------------------------------

  private network (id: string): DockerNetwork {
    const n = this.state.networks.get(id)
    if (n === undefined) throw new ErrNoSuchNetwork(id)
    return n
  }

  private endpoint (network: string, eid: string): DockerEndpoint {
    this.network(network)
    const ep = this.state.endpoints.get(eid)
    if (ep === undefined || ep.network !== network) throw new ErrNoSuchEndpoint(eid)
    return ep
  }

  private cluster (n: DockerNetwork): NetworkRecord {
    const rec = this.c.findNetwork(n.nid)
    if (rec === undefined) throw new ErrNoSuchNetwork(`${n.name} (removed from the cluster)`)
    return rec
  }

  private byName (name: string): NetworkRecord | undefined {
    const rec = this.c.findNetwork(name)
    return rec?.name === name ? rec : undefined
  }

  private bySubnet (pool: string): NetworkRecord | undefined {
    // A pool id of ours names the network directly; the pool only, when the name is absent.
    const hold = [...this.state.pools.values()].find(h => h.pool === pool && !h.superseded)
    return hold === undefined ? undefined : this.c.findNetwork(hold.nid)
  }
}
