/**
 * What this host must remember across a crash that NetworkDB and the IPAM do not keep for it:
 * the endpoints it attached (to rebuild their kernel plumbing after kill -9) and the IPAM pools
 * and gateway addresses it holds per network (to release them exactly once).
 *
 * One small JSON file in the data dir, replaced atomically (write temp, fsync, rename, fsync dir)
 * on every change, so a crash leaves either the old or the new state, never a torn one.
 */
import { join } from 'node:path'
import { z } from 'zod'
import { AtomicFile } from './atomic-file.js'
import type { PortMapping } from './egress/index.js'

export interface LocalEndpoint {
  nid: string
  eid: string
  name: string
  /** The container namespace as given (a name in /run/netns or a path). */
  netns: string
  /** CIDR. */
  address: string
  mac: string
  /** NetworkDB table entries the join published: (table, key). */
  entries: Array<{ table: string, key: string }>
  /**
   * Set for an endpoint whose interface another runtime (Docker) moves into its container: the
   * name the container side was handed over under. That runtime also owns the address (it
   * requested it and releases it), so detaching does not release it. `netns` is "" then.
   */
  handoff?: string
  /** Ports published at this host's address (`attach --publish`). */
  publish?: PortMapping[]
  /** Interface name inside the namespace when not eth0. */
  ifName?: string
  /** The endpoint's own MTU (below the network's), when asked for. */
  mtu?: number
  /** Attachments made through CNI: CNI_CONTAINERID and the CNI network (config) name. */
  cni?: { containerId: string, network: string }
  /** Extra DNS names (`attach --alias`), published in the endpoint record. */
  aliases?: string[]
  /** `attach --dns`: the container's resolv.conf points at its networks' resolvers. */
  dns?: boolean
}

export interface LocalNetwork {
  nid: string
  poolId: string
  /**
   * The network's gateway as this host holds it in the IPAM (allocated by the creator, shared by
   * every other host holding the pool; released with the pool), else "".
   */
  gateway: string
}

interface StateFile { version: 1, networks: LocalNetwork[], endpoints: LocalEndpoint[] }

// Loose objects: fields a later version adds survive a load and save by this one.
const portMapping = z.looseObject({
  hostIp: z.string(), hostPort: z.number().int(), ctrPort: z.number().int(), proto: z.enum(['tcp', 'udp'])
})
const stateFile: z.ZodType<StateFile> = z.looseObject({
  version: z.literal(1),
  networks: z.array(z.looseObject({ nid: z.string(), poolId: z.string(), gateway: z.string() })),
  endpoints: z.array(z.looseObject({
    nid: z.string(),
    eid: z.string(),
    name: z.string(),
    netns: z.string(),
    address: z.string(),
    mac: z.string(),
    entries: z.array(z.looseObject({ table: z.string(), key: z.string() })),
    handoff: z.string().optional(),
    publish: z.array(portMapping).optional(),
    ifName: z.string().optional(),
    mtu: z.number().int().optional(),
    cni: z.looseObject({ containerId: z.string(), network: z.string() }).optional()
  }))
})

export class LocalState {
  readonly networks = new Map<string, LocalNetwork>()
  readonly endpoints = new Map<string, LocalEndpoint>()

  private readonly file: AtomicFile

  private constructor (private readonly path: string) { this.file = new AtomicFile(path) }

  static async load (dataDir: string): Promise<LocalState> {
    const s = new LocalState(join(dataDir, 'agent-state.json'))
    const parsed = await s.file.readJson('agent state', stateFile)
    if (parsed === undefined) return s
    for (const n of parsed.networks) s.networks.set(n.nid, n)
    for (const e of parsed.endpoints) s.endpoints.set(e.eid, e)
    return s
  }

  endpointsOf (nid: string): LocalEndpoint[] {
    return [...this.endpoints.values()].filter(e => e.nid === nid)
  }

  /** Persist the current maps; writes are serialized, each one complete before the next. */
  async save (): Promise<void> {
    const snapshot: StateFile = {
      version: 1, networks: [...this.networks.values()], endpoints: [...this.endpoints.values()]
    }
    const text = JSON.stringify(snapshot, null, 1)
    await this.file.write(text)
  }
}
