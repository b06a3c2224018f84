/** `ovnet network inspect` / `network ls` views, shaped like Docker's. */
import type { EndpointRecord, NetworkRecord } from '../proto/index.js'
import type { OverlayStatus } from '../overlay/index.js'
import type {
  ContainerView, EndpointView, IpamStatusView, NetworkInspect, NetworkSummary, PeerView
} from './api-types.js'
import type { LocalEndpoint } from './local-state.js'
import { formatMapping } from './egress/index.js'

export function summary (rec: NetworkRecord): NetworkSummary {
  return {
    Name: rec.name, Id: rec.id, Created: new Date(rec.created).toISOString(), Driver: 'overlay', Scope: 'global',
    Subnets: [rec.subnet]
  }
}

export interface InspectInput {
  rec: NetworkRecord
  verbose: boolean
  local: LocalEndpoint[]
  endpoints: EndpointRecord[]
  peers: PeerView[]
  driver: OverlayStatus
  ipam: IpamStatusView | undefined
  self: string
  /** The network's resolver on this host (agent/dns), if it has one. */
  dns?: { Resolver: string, Listening: boolean } | undefined
}

export function buildInspect (i: InspectInput): NetworkInspect {
  const { rec } = i
  const containers: Record<string, ContainerView> = {}
  for (const ep of i.local) {
    containers[ep.eid] = {
      Name: ep.name, EndpointID: ep.eid, MacAddress: ep.mac, IPv4Address: ep.address, IPv6Address: ''
    }
    if (ep.publish !== undefined && ep.publish.length > 0) containers[ep.eid]!.Ports = ep.publish.map(formatMapping)
    if (ep.aliases !== undefined && ep.aliases.length > 0) containers[ep.eid]!.Aliases = [...ep.aliases]
  }
  const out: NetworkInspect = {
    Name: rec.name,
    Id: rec.id,
    Created: new Date(rec.created).toISOString(),
    Scope: 'global',
    Driver: 'overlay',
    EnableIPv6: false,
    IPAM: {
      Driver: 'ovnet',
      Options: {},
      Config: [{
        Subnet: rec.subnet,
        ...(rec.ipRange === '' ? {} : { IPRange: rec.ipRange }),
        ...(rec.gateway === '' ? {} : { Gateway: rec.gateway })
      }]
    },
    Internal: rec.internal,
    Attachable: rec.attachable,
    Containers: containers,
    Options: { ...rec.options, 'com.docker.network.driver.overlay.vxlanid_list': String(rec.vni) },
    Labels: { ...rec.labels },
    ...(i.dns === undefined ? {} : { DNS: i.dns })
  }
  if (!i.verbose) return out
  const net = i.driver.networks.find(n => n.nid === rec.id)
  const programmed = new Set((net?.peers ?? []).filter(p => p.state === 'programmed').map(p => p.eid))
  const localIds = new Set(i.local.map(e => e.eid))
  out.Peers = [...i.peers].sort((a, b) => a.Name.localeCompare(b.Name))
  out.Endpoints = i.endpoints
    .map((e): EndpointView => ({
      Name: e.name,
      EndpointID: e.eid,
      EndpointIP: e.ip.split('/')[0]!,
      MacAddress: e.mac,
      Node: e.node,
      Info: { 'Host IP': e.vtep },
      // our own endpoints need no FDB entry: they are on the local bridge
      Programmed: e.nodeId === i.self ? localIds.has(e.eid) : programmed.has(e.eid),
      ...(e.aliases === undefined || e.aliases.length === 0 ? {} : { Aliases: [...e.aliases] })
    }))
    .sort((a, b) => {
      return a.Node.localeCompare(b.Node) || a.EndpointIP.localeCompare(b.EndpointIP, undefined, { numeric: true })
    })
  const subnets: NonNullable<NetworkInspect['Status']>['IPAM']['Subnets'] = {}
  for (const p of i.ipam?.Pools ?? []) {
    if (p.Subnet === rec.subnet) {
      subnets[p.Subnet] = { IPsInUse: p.IPsInUse, DynamicIPsAvailable: p.DynamicIPsAvailable }
    }
  }
  out.Status = { IPAM: { Subnets: subnets } }
  return out
}
