/**
 * What the plugin must remember across an agent restart, because dockerd does not replay it
 * (a local-scope remote network is created once and its ids are kept in Docker's own store):
 * the pools handed to Docker for cluster networks, Docker's network ids mapped to ovnet's
 * cluster networks, and the endpoints Docker created but may not have joined yet.
 *
 * One JSON file in the agent's data dir, replaced atomically on every change (write a temp
 * file, fsync, rename, fsync the directory), so a crash leaves the old or the new state.
 */
import { join } from 'node:path'
import { z } from 'zod'
import { AtomicFile } from '../atomic-file.js'

/** A pool of a cluster network handed to Docker by RequestPool (its PoolID is the key). */
export interface PoolHold {
  poolId: string
  /** Cluster network id and name. */
  nid: string
  name: string
  /** The network's subnet when handed out. */
  pool: string
  /** This request created the cluster network (a retry may re-create it elsewhere). */
  created: boolean
  /**
   * Docker has created a network on it (CreateNetwork); before that, a second dynamic request means the pool
   * overlapped its routes.
   */
  bound: boolean
  /** Replaced by a later pool after an overlap: its release changes nothing more. */
  superseded: boolean
}

/** A Docker network (local scope, this host) and the cluster network it stands for. */
export interface DockerNetwork { id: string, nid: string, name: string }

/** A Docker endpoint: created by CreateEndpoint, plumbed by the controller at Join. */
export interface DockerEndpoint { eid: string, network: string, nid: string, address: string, mac: string }

interface StateFile { version: 1, pools: PoolHold[], networks: DockerNetwork[], endpoints: DockerEndpoint[] }

// Loose objects: fields a later version adds survive a load and save by this one.
const stateFile: z.ZodType<StateFile> = z.looseObject({
  version: z.literal(1),
  pools: z.array(z.looseObject({
    poolId: z.string(),
    nid: z.string(),
    name: z.string(),
    pool: z.string(),
    created: z.boolean(),
    bound: z.boolean(),
    superseded: z.boolean()
  })),
  networks: z.array(z.looseObject({ id: z.string(), nid: z.string(), name: z.string() })),
  endpoints: z.array(z.looseObject({
    eid: z.string(), network: z.string(), nid: z.string(), address: z.string(), mac: z.string()
  }))
})

export const PLUGIN_STATE_FILE = 'docker-plugin-state.json'

export class PluginState {
  readonly pools = new Map<string, PoolHold>()
  readonly networks = new Map<string, DockerNetwork>()
  readonly endpoints = new Map<string, DockerEndpoint>()

  private readonly file: AtomicFile

  private constructor (private readonly path: string) { this.file = new AtomicFile(path) }

  static async load (dataDir: string): Promise<PluginState> {
    const s = new PluginState(join(dataDir, PLUGIN_STATE_FILE))
    const parsed = await s.file.readJson('docker plugin state', stateFile)
    if (parsed === undefined) return s
    for (const p of parsed.pools) s.pools.set(p.poolId, p)
    for (const n of parsed.networks) s.networks.set(n.id, n)
    for (const e of parsed.endpoints) s.endpoints.set(e.eid, e)
    return s
  }

  endpointsOf (network: string): DockerEndpoint[] {
    return [...this.endpoints.values()].filter(e => e.network === network)
  }

  /** Persist the current maps; writes are serialized, each one complete before the next. */
  async save (): Promise<void> {
    const snapshot: StateFile = {
      version: 1,
      pools: [...this.pools.values()],
      networks: [...this.networks.values()],
      endpoints: [...this.endpoints.values()]
    }
    const text = JSON.stringify(snapshot, null, 1)
    await this.file.write(text)
  }
}
