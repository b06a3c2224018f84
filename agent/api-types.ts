/**
 * The control API contract: the JSON shapes the agent serves on its unix socket, the request
 * bodies (validated with zod at the boundary), and `ControlHandlers`, the interface the
 * controller implements. Field names follow Docker's API (PascalCase) because the CLI's `--json`
 * output is these objects unchanged, and users script against them.
 */
import { IPv4CidrRange } from 'ip-num'
import { z } from 'zod'
import type { Diagnostics } from '../networkdb/index.js'
import {
  MAX_ALIASES, MAX_MAP_ENTRIES, MAX_MAP_KEY, MAX_MAP_VALUE, MAX_MAPS_BYTES, MAX_NAME, MAX_RECORD_NAME
} from '../proto/index.js'
import { netnsSyntaxError } from './netns-target.js'
import { aliasError } from './dns/aliases.js'

// ---- responses ---------------------------------------------------------------------------------

export type MemberStatus = 'alive' | 'suspect' | 'failed' | 'left'

/** One row of `ovnet cluster members --json`. */
export interface MemberView {
  Name: string
  ID: string
  /** Underlay (advertise) address. */
  Address: string
  Status: MemberStatus
  /** ICMP echo round trip in ms; null when the probe got no answer (or none ran yet). */
  RTT: number | null
  /**
   * How the member runs WireGuard for encrypted networks (kernel, userspace or none), as it
   * announced; null when it announced nothing. Absent from agents without encryption.
   */
  Encryption?: 'kernel' | 'userspace' | 'none' | null
}

/** `ovnet cluster rotate-key --json`. */
export interface RotateKeyResponse { PublicKey: string }

/** `ovnet cluster encryption --json`: this host's WireGuard device and peers. */
export interface EncryptionStatusView {
  Mode: 'kernel' | 'userspace' | 'none'
  Interface: string
  PublicKey: string
  ListenPort: number
  VxlanPort: number
  Ready: boolean
  Peers: Array<{
    Name: string, PublicKey: string, Endpoint: string, LatestHandshake: number, RxBytes: number, TxBytes: number
  }>
}

export interface NetworkCreateResponse {
  Id: string
}

/** One row of `ovnet network ls --json`. */
export interface NetworkSummary {
  Name: string
  Id: string
  /** RFC 3339 time of creation. */
  Created: string
  Driver: string
  Scope: string
  Subnets: string[]
}

export interface IpamConfigView {
  Subnet: string
  IPRange?: string
  Gateway?: string
}

/** An endpoint of this host, as in `docker network inspect` "Containers". */
export interface ContainerView {
  Name: string
  EndpointID: string
  MacAddress: string
  /** CIDR form, e.g. "10.0.0.2/24". */
  IPv4Address: string
  IPv6Address: string
  /** Published ports, Docker's notation (`198.18.0.11:8080->80/tcp`); absent when none. */
  Ports?: string[]
  /** DNS aliases (`attach --alias`); absent when none. */
  Aliases?: string[]
}

export interface PeerView {
  Name: string
  IP: string
  RTT: number | null
}

/** An endpoint anywhere in the cluster, decoded from the overlay's table entry. */
export interface EndpointView {
  Name: string
  EndpointID: string
  EndpointIP: string
  MacAddress: string
  /** Name of the node owning the endpoint. */
  Node: string
  Info: { 'Host IP': string }
  /** Whether this host's kernel holds the endpoint's FDB and neighbour entries. */
  Programmed: boolean
  /** DNS aliases; absent when none. */
  Aliases?: string[]
}

export interface SubnetStatusView {
  IPsInUse: number
  DynamicIPsAvailable: number
}

/** `ovnet network inspect` (shaped like `docker network inspect`); the verbose fields are optional. */
export interface NetworkInspect {
  Name: string
  Id: string
  Created: string
  Scope: 'global'
  Driver: 'overlay'
  EnableIPv6: boolean
  IPAM: { Driver: string, Options: Record<string, string>, Config: IpamConfigView[] }
  Internal: boolean
  Attachable: boolean
  /** Endpoints on THIS host, keyed by endpoint id. */
  Containers: Record<string, ContainerView>
  /** Includes "com.docker.network.driver.overlay.vxlanid_list". */
  Options: Record<string, string>
  Labels: Record<string, string>
  /** The network's embedded DNS resolver on this host (docs/dns.md); absent without a gateway or DNS. */
  DNS?: { Resolver: string, Listening: boolean }
  Peers?: PeerView[]
  Endpoints?: EndpointView[]
  Status?: { IPAM: { Subnets: Record<string, SubnetStatusView> } }
}

export interface AttachResponse {
  EndpointID: string
  /** CIDR form. */
  IPv4Address: string
  MacAddress: string
  /** The network's gateway (no prefix length), the endpoint's default route; absent when it has none. */
  Gateway?: string
  /** The network's DNS resolver (`IP:53`, in the sandbox, docs/dns.md); absent when the network has no gateway. */
  DNS?: string
}

/**
 * `GET /v1/networks/:network/attachments`: this host's endpoints in the network with what a
 * runtime keyed them by (the CNI plugin's container id and interface name; its GC lists them).
 */
export interface AttachmentView {
  EndpointID: string
  Name: string
  /** The namespace as given at attach ("" for an endpoint another runtime moved, Docker's). */
  Netns: string
  /** Interface name inside the namespace. */
  IfName: string
  /** CIDR form. */
  IPv4Address: string
  MacAddress: string
  Gateway?: string
  /** The interface's MTU when the attach asked for one (else the network's). */
  MTU?: number
  /** Set for attachments made through CNI: CNI_CONTAINERID and the CNI network (config) name. */
  ContainerID?: string
  CNINetwork?: string
}

/** A contiguous part of a pool held by one node. */
export interface IpamRangeView {
  Range: string
  Owner: string
  IPsInUse: number
}

export interface IpamPoolView {
  /** Name of the network using the pool; "" when none. */
  Network: string
  Subnet: string
  IPsInUse: number
  DynamicIPsAvailable: number
  Ranges: IpamRangeView[]
}

/** `ovnet ipam status --json`. */
export interface IpamStatusView {
  Pools: IpamPoolView[]
}

/** `ovnet ipam reclaim NODE`: the ranges taken back from a dead node. */
export interface IpamReclaimResponse {
  Node: string
  Reclaimed: string[]
}

export type EventType = 'network' | 'endpoint' | 'peer' | 'dns'

/** One line of `ovnet events --json` (Docker's event shape, without its legacy fields). */
export interface ControlEvent {
  Type: EventType
  /** e.g. create, destroy, attach, detach, join, leave, alive, suspect, failed. */
  Action: string
  Actor: { ID: string, Attributes: Record<string, string> }
  /** RFC 3339 time the agent saw the event. */
  Time: string
}

/**
 * `GET /v1/diagnostics`: NetworkDB's own diagnostics, unchanged (camelCase, as the library names
 * them): members as this node sees them, and per network its peers, table counts and the digest of
 * its visible entries. Equal digests on two nodes mean equal views; the chaos kit compares them.
 */
export type DiagnosticsView = Diagnostics

export interface PingResponse {
  Name: string
  Version: string
}

// ---- requests ----------------------------------------------------------------------------------

/*
 * Address checks happen here, at the boundary, with the texts Go's net package gives for the same
 * mistakes (libnetwork passes them through), so the CLI shows what Docker would.
 */
/**
 * Limits are the record decoders' (proto/agent.ts): what this API accepts, every host decodes.
 * Names and option keys carry no whitespace or control characters, values no control characters
 * (nothing here may become a second line of a batch, or a path component).
 */
const CONTROL = /[\u0000-\u001f\u007f]/
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** A network prefix: IPv4 CIDR, not the whole space, no host bits (Docker: "it should be ..."). */
const cidr = (field: string) => z.string({ error: `${field} must be a string` })
  .refine(s => z.cidrv4().safeParse(s).success, {
    error: iss => `invalid CIDR address: ${String(iss.input)}`, abort: true
  })
  .refine(s => !s.endsWith('/0'), {
    error: iss => `invalid ${field} ${String(iss.input)}: a network cannot span the whole address space`, abort: true
  })
  .superRefine((s, ctx) => {
    const first = IPv4CidrRange.fromCidr(s).getFirst().toString()
    const canonical = `${first}/${s.split('/')[1]!}`
    if (canonical !== s) ctx.addIssue({ code: 'custom', message: `invalid ${field} ${s}: it should be ${canonical}` })
  })
const ipv4 = (field: string) => z.string({ error: `${field} must be a string` })
  .refine(s => z.ipv4().safeParse(s).success, { error: iss => `invalid IP address: ${String(iss.input)}` })
/** A unicast MAC: bit 0 of the first octet marks group (multicast, broadcast) addresses. */
const mac = z.string({ error: 'MAC must be a string' })
  .refine(s => /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(s), {
    error: iss => `address ${String(iss.input)}: invalid MAC address`, abort: true
  })
  .refine(s => (parseInt(s.slice(0, 2), 16) & 1) === 0, {
    error: iss => `address ${String(iss.input)}: not a unicast MAC address`
  })
const name = (field: string, max = MAX_RECORD_NAME) => z.string({ error: `${field} must be a string` })
  .min(1, { error: `invalid name: ${field} is empty`, abort: true })
  .max(max, { error: `invalid name: ${field} is longer than ${max} characters` })
  .regex(NAME_RE, {
    error: iss => `invalid name ${JSON.stringify(String(iss.input))}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`
  })
const stringMap = (field: string) => z.record(z.string(), z.string(), { error: `${field} must be a map of strings` })
  .superRefine((m, ctx) => {
    const entries = Object.entries(m)
    if (entries.length > MAX_MAP_ENTRIES) {
      ctx.addIssue({ code: 'custom', message: `${field}: more than ${MAX_MAP_ENTRIES} entries` })
    }
    for (const [k, v] of entries) {
      if (k.length === 0 || k.length > MAX_MAP_KEY || CONTROL.test(k) || /\s/.test(k)) {
        ctx.addIssue({
          code: 'custom',
          message: `${field}: invalid key ${JSON.stringify(k.slice(0, 64))} ` +
            `(1-${MAX_MAP_KEY} characters, no whitespace or control characters)`
        })
      } else if (v.length > MAX_MAP_VALUE || CONTROL.test(v)) {
        ctx.addIssue({
          code: 'custom',
          message: `${field}: invalid value of ${k} (at most ${MAX_MAP_VALUE} characters, no control characters)`
        })
      }
    }
  })
const mapsBytes = (...maps: Array<Record<string, string> | undefined>): number =>
  maps.reduce((n, m) => {
    return n + Object.entries(m ?? {}).reduce((b, [k, v]) => b + Buffer.byteLength(k) + Buffer.byteLength(v), 0)
  }, 0)
const netns = z.string({ error: 'Netns must be a string' }).min(1, { error: 'Netns is empty' })
  .superRefine((s, ctx) => {
    const why = netnsSyntaxError(s)
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: why })
  })

/** VNIs below 4096 would collide with 802.1Q ids on Windows hosts; above 2^24-1 do not fit VXLAN. */
export const MIN_VNI = 4096
export const MAX_VNI = 16_777_215

export const NetworkCreateRequest = z.strictObject({
  Name: name('Name'),
  Subnet: cidr('Subnet').optional(),
  Gateway: ipv4('Gateway').optional(),
  IPRange: cidr('IPRange').optional(),
  VNI: z.number({ error: 'VNI must be a number' }).int({ error: 'VNI must be an integer' })
    .min(MIN_VNI, { error: `VNI must be in ${MIN_VNI}-${MAX_VNI}` })
    .max(MAX_VNI, { error: `VNI must be in ${MIN_VNI}-${MAX_VNI}` }).optional(),
  Options: stringMap('Options').optional(),
  Labels: stringMap('Labels').optional(),
  /** No egress at all (Docker's --internal); part of the replicated definition. */
  Internal: z.boolean({ error: 'Internal must be a boolean' }).optional()
}).refine(r => mapsBytes(r.Options, r.Labels) <= MAX_MAPS_BYTES, {
  error: `Options and Labels exceed ${MAX_MAPS_BYTES} bytes together`
})
export type NetworkCreateRequest = z.infer<typeof NetworkCreateRequest>

/**
 * Linux: at most 15 bytes, not "." or "..", no "/", ":" or white space (the CNI spec's check);
 * and what the dataplane writes into a batch line: letters, digits, "_", "." and "-", not
 * beginning with "-" or "." (no control character, no option-like name).
 */
const ifname = z.string({ error: 'IfName must be a string' })
  .refine(s => /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(s),
    { error: iss => `invalid interface name: ${JSON.stringify(iss.input)}` })
/** CNI's container id rule: alphanumeric first, then alphanumerics, "_", "." or "-". */
const containerId = z.string({ error: 'ContainerID must be a string' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: iss => `invalid container id: ${String(iss.input)}` })

export const AttachRequest = z.strictObject({
  /** A namespace name (as in /run/netns) or a path to a namespace file (agent/netns-target.ts). */
  Netns: netns,
  Name: name('Name').optional(),
  IP: ipv4('IP').optional(),
  MAC: mac.optional(),
  /** `[HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]`, checked by the controller (agent/egress/ports.ts). */
  Publish: z.array(z.string({ error: 'Publish entries must be strings' }).max(64), { error: 'Publish must be a list' })
    .max(64).optional(),
  /** Interface name inside the namespace (default eth0). */
  IfName: ifname.optional(),
  /** MTU of the endpoint's interfaces; at most the network's (the VXLAN path's limit). */
  MTU: z.number({ error: 'MTU must be a number' }).int({ error: 'MTU must be an integer' })
    .min(68, { error: 'MTU must be in 68-65535' }).max(65535, { error: 'MTU must be in 68-65535' }).optional(),
  /** CNI attachments: the runtime's container id (with IfName the attachment's key) and CNI network name. */
  ContainerID: containerId.optional(),
  CNINetwork: name('CNINetwork').optional(),
  /** Extra DNS names of the endpoint (docs/dns.md); several endpoints may share one. */
  Aliases: z.array(z.string({ error: 'Aliases entries must be strings' })
    .refine(s => aliasError(s) === undefined, { error: iss => aliasError(String(iss.input)) ?? 'invalid alias' }),
  { error: 'Aliases must be a list' })
    .max(MAX_ALIASES, { error: `at most ${MAX_ALIASES} aliases` }).optional(),
  /** Write the namespace's resolv.conf to point at the network's resolver. */
  DNS: z.boolean({ error: 'DNS must be a boolean' }).optional()
}).refine(r => (r.ContainerID === undefined) === (r.CNINetwork === undefined), {
  error: 'ContainerID and CNINetwork go together'
})
export type AttachRequest = z.infer<typeof AttachRequest>

/**
 * By namespace (the CLI), or by CNI key: ContainerID and IfName (default eth0). Detach matches the
 * attach's Netns as stored (possibly of an older, laxer agent): no path rules.
 */
export const DetachRequest = z.strictObject({
  Netns: z.string({ error: 'Netns must be a string' }).min(1, { error: 'Netns is empty' })
    .max(4096, { error: 'Netns is too long' })
    .refine(s => !CONTROL.test(s), { error: 'Netns has control characters' }).optional(),
  ContainerID: containerId.optional(),
  IfName: ifname.optional()
}).refine(r => (r.Netns === undefined) !== (r.ContainerID === undefined), { error: 'give either Netns or ContainerID' })
  .refine(r => r.IfName === undefined || r.ContainerID !== undefined, { error: 'IfName goes with ContainerID' })
export type DetachRequest = z.infer<typeof DetachRequest>

export const IpamReclaimRequest = z.strictObject({
  Node: z.string({ error: 'Node must be a string' }).min(1, { error: 'invalid name: Node is empty' })
    .max(MAX_NAME, { error: `invalid name: Node is longer than ${MAX_NAME} characters` })
    .refine(s => !CONTROL.test(s) && !/\s/.test(s), {
      error: 'invalid name: Node has whitespace or control characters'
    })
})
export type IpamReclaimRequest = z.infer<typeof IpamReclaimRequest>

// ---- the controller's side ---------------------------------------------------------------------

export type Unsubscribe = () => void

/**
 * What the control API asks of the controller. Methods throw the typed errors of agent/errors.ts
 * (or any error with a `kind`); the API maps them to statuses and `{error, type}` bodies.
 * `network` arguments are a name, a full id or an unambiguous id prefix, as in Docker.
 */
export interface ControlHandlers {
  members(): Promise<MemberView[]>
  createNetwork(req: NetworkCreateRequest): Promise<NetworkCreateResponse>
  listNetworks(): Promise<NetworkSummary[]>
  inspectNetwork(network: string, verbose: boolean): Promise<NetworkInspect>
  removeNetwork(network: string): Promise<void>
  attach(network: string, req: AttachRequest): Promise<AttachResponse>
  detach(network: string, req: DetachRequest): Promise<void>
  ipamStatus(): Promise<IpamStatusView>
  ipamReclaim(node: string): Promise<IpamReclaimResponse>
  /** Deliver events as they happen until unsubscribed; no replay of past events. */
  subscribeEvents(listener: (ev: ControlEvent) => void): Unsubscribe
  /** This host's endpoints in a network, with their runtime keys (CNI GC/CHECK). Optional: else 501. */
  attachments?(network: string): Promise<AttachmentView[]>
  /** A new WireGuard key pair for this host (encrypted networks). Optional: else 501. */
  rotateKey?(): Promise<RotateKeyResponse>
  /** This host's WireGuard device and peers. Optional: else 501. */
  encryption?(): Promise<EncryptionStatusView>
  /** NetworkDB diagnostics (read-only). Optional: a controller without it answers 501. */
  diagnostics?(): Promise<DiagnosticsView>
}
