/**
 * In-memory Dataplane with the Linux adapter's semantics, for unit tests: REPLACE writes,
 * absent-is-fine deletes, one counted batch per `apply`. Tests can also reach in and play the
 * kernel or an operator: simulate a kernel-learned dynamic FDB entry, corrupt a table, or make the
 * next operations fail.
 */
import {
  DataplaneError, endpointKey,
  type Dataplane, type EndpointSpec, type FdbEntry, type NeighEntry, type PeerOp, type PeerTables, type SandboxSpec,
  type SandboxState
} from './dataplane.js'

export interface MemorySandbox {
  spec: SandboxSpec
  fdb: Map<string, FdbEntry>
  neigh: Map<string, NeighEntry>
  endpoints: Map<string, EndpointSpec>
}

export type MemoryOp =
  'ensureSandbox' | 'removeSandbox' | 'addEndpoint' | 'removeEndpoint' | 'apply' | 'readTables' | 'listSandboxes'

export interface MemoryDataplaneOptions {
  /** MTU reported for any underlay address (default 1500). */
  underlayMtu?: number
  /** Container namespaces that exist; when set, addEndpoint into any other fails like the kernel. */
  containerNetns?: Set<string>
}

export class MemoryDataplane implements Dataplane {
  readonly sandboxes = new Map<string, MemorySandbox>()
  /** Calls per operation, for tests asserting batching. */
  readonly calls = new Map<MemoryOp, number>()
  /** Every batch passed to apply, in order. */
  readonly batches: Array<{ sandbox: string, ops: PeerOp[] }> = []
  private readonly failures = new Map<MemoryOp, Error[]>()
  private readonly mtu: number
  private readonly containers: Set<string> | undefined

  constructor (opts: MemoryDataplaneOptions = {}) {
    this.mtu = opts.underlayMtu ?? 1500
    this.containers = opts.containerNetns
  }

  /** Make the next `times` calls of `op` fail with `err` (before changing anything). */
  failNext (op: MemoryOp, times = 1, err: Error = new DataplaneError('command', `injected ${op} failure`)): void {
    const list = this.failures.get(op) ?? []
    for (let i = 0; i < times; i++) list.push(err)
    this.failures.set(op, list)
  }

  count (op: MemoryOp): number { return this.calls.get(op) ?? 0 }

  private enter (op: MemoryOp): void {
    this.calls.set(op, this.count(op) + 1)
    const err = this.failures.get(op)?.shift()
    if (err !== undefined) throw err
  }

  private box (name: string): MemorySandbox {
    const b = this.sandboxes.get(name)
    if (b === undefined) throw new DataplaneError('no-sandbox', `sandbox ${name} does not exist`)
    return b
  }

  async ensureSandbox (spec: SandboxSpec): Promise<boolean> {
    this.enter('ensureSandbox')
    const cur = this.sandboxes.get(spec.name)
    if (cur === undefined) {
      this.sandboxes.set(spec.name, { spec: { ...spec }, fdb: new Map(), neigh: new Map(), endpoints: new Map() })
      return true
    }
    const s = cur.spec
    const rebuilt = s.vni !== spec.vni || s.vtep !== spec.vtep || s.dstPort !== spec.dstPort
    if (rebuilt) {
      // The Linux adapter rebuilds a mismatching vxlan device, which drops its FDB and the
      // neighbour entries bound to it.
      cur.fdb.clear()
      cur.neigh.clear()
    }
    cur.spec = { ...spec }
    return rebuilt
  }

  async removeSandbox (name: string): Promise<void> {
    this.enter('removeSandbox')
    this.sandboxes.delete(name)
  }

  async addEndpoint (spec: EndpointSpec): Promise<void> {
    this.enter('addEndpoint')
    const b = this.box(spec.sandbox)
    // A handed-off endpoint stays in the agent's namespace: no container namespace to check.
    if (spec.handoff !== true && this.containers !== undefined && !this.containers.has(spec.containerNetns)) {
      throw new DataplaneError('no-netns', `container namespace ${spec.containerNetns} does not exist`)
    }
    b.endpoints.set(endpointKey(spec.eid), { ...spec })
  }

  async removeEndpoint (sandbox: string, eid: string): Promise<void> {
    this.enter('removeEndpoint')
    this.sandboxes.get(sandbox)?.endpoints.delete(endpointKey(eid))
  }

  async apply (sandbox: string, ops: readonly PeerOp[]): Promise<void> {
    this.enter('apply')
    const b = this.box(sandbox)
    this.batches.push({ sandbox, ops: [...ops] })
    for (const o of ops) {
      if (o.kind === 'fdb') {
        if (o.op === 'add') b.fdb.set(o.mac, { mac: o.mac, dst: o.dst, permanent: true })
        else b.fdb.delete(o.mac)
      } else {
        if (o.op === 'add') b.neigh.set(o.ip, { ip: o.ip, mac: o.mac, permanent: true })
        else b.neigh.delete(o.ip)
      }
    }
  }

  async readTables (sandbox: string): Promise<PeerTables> {
    this.enter('readTables')
    const b = this.box(sandbox)
    return { fdb: [...b.fdb.values()].map(e => ({ ...e })), neigh: [...b.neigh.values()].map(e => ({ ...e })) }
  }

  async listSandboxes (prefix: string): Promise<SandboxState[]> {
    this.enter('listSandboxes')
    const out: SandboxState[] = []
    for (const [name, b] of this.sandboxes) {
      if (!name.startsWith(prefix)) continue
      out.push({
        name,
        owner: b.spec.owner,
        vni: b.spec.vni,
        vtep: b.spec.vtep,
        dstPort: b.spec.dstPort,
        mtu: b.spec.mtu,
        bridgeAddrs: b.spec.gateway === undefined ? [] : [b.spec.gateway],
        endpoints: [...b.endpoints.keys()]
      })
    }
    return out
  }

  async underlayMtu (_addr: string): Promise<number | undefined> {
    return this.mtu
  }

  // ---- test hooks: act as the kernel or an operator ----------------------------------------------

  /** The kernel learnt `mac` behind `dst` (a dynamic entry, as vxlan learning would make). */
  simulateLearned (sandbox: string, mac: string, dst: string): void {
    this.box(sandbox).fdb.set(mac, { mac, dst, permanent: false })
  }

  /** Direct, unbatched access to a sandbox's tables, as `bridge fdb` / `ip neigh` by hand. */
  tables (sandbox: string): MemorySandbox {
    return this.box(sandbox)
  }

  /** FDB as a plain map mac -> dst, for assertions. */
  fdbOf (sandbox: string): Record<string, string> {
    const out: Record<string, string> = {}
    for (const e of [...this.box(sandbox).fdb.values()].sort((a, b) => a.mac.localeCompare(b.mac))) out[e.mac] = e.dst
    return out
  }

  /** Neighbours as a plain map ip -> mac, for assertions. */
  neighOf (sandbox: string): Record<string, string | undefined> {
    const out: Record<string, string | undefined> = {}
    for (const e of [...this.box(sandbox).neigh.values()].sort((a, b) => a.ip.localeCompare(b.ip))) out[e.ip] = e.mac
    return out
  }
}
