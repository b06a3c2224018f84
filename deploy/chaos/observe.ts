/**
 * A snapshot of the cluster as every host sees it: the control API's views (members, networks,
 * `inspect --verbose`, IPAM, NetworkDB diagnostics) and the kernel's (the FDB and neighbour tables
 * of the vxlan device in each of the host's sandboxes `ovnet-<node>-<nid12>`, read with
 * `bridge -json fdb` / `ip -json neigh`). Hosts are read in parallel; a host whose agent does not
 * answer carries the error instead.
 */
import type { DiagnosticsView, IpamStatusView, MemberView, NetworkInspect, NetworkSummary } from '../../agent/index.js'
import type { ChaosTarget } from './target.js'

export interface FdbRow { mac: string, dst: string, permanent: boolean }
export interface NeighRow { ip: string, mac: string | undefined, permanent: boolean }
export interface SandboxView { fdb: FdbRow[], neigh: NeighRow[], error?: string }

export interface HostSnapshot {
  index: number
  label: string
  node: string
  ip: string
  /** The run believes the agent is up. */
  up: boolean
  /** The API did not answer (only meaningful when `up`). */
  error?: string
  members?: MemberView[]
  /** The run's networks only (names with the run's prefix). */
  networks?: NetworkSummary[]
  /** By network name, verbose. */
  inspect?: Record<string, NetworkInspect>
  ipam?: IpamStatusView
  diagnostics?: DiagnosticsView
  /** By sandbox namespace name. */
  sandboxes?: Record<string, SandboxView>
}

export interface ClusterSnapshot {
  at: number
  hosts: HostSnapshot[]
}

export interface SnapshotOptions {
  /** Only networks whose name starts with this are the run's (a real cluster may hold others). */
  networkPrefix: string
  /** Read the kernel tables too (default true). */
  kernel?: boolean
}

export function sandboxName (node: string, nid: string): string {
  return `ovnet-${node}-${nid.slice(0, 12)}`
}

export async function snapshot (t: ChaosTarget, o: SnapshotOptions): Promise<ClusterSnapshot> {
  const at = Date.now()
  const hosts = await Promise.all(t.hosts.map(async (h, i) => await hostSnapshot(t, i, o).catch((err: unknown): HostSnapshot => ({
    index: i, label: h.label, node: t.nodeName(i), ip: h.ip, up: t.agentUp(i), error: String(err)
  }))))
  return { at, hosts }
}

async function hostSnapshot (t: ChaosTarget, i: number, o: SnapshotOptions): Promise<HostSnapshot> {
  const h = t.hosts[i]!
  const base: HostSnapshot = { index: i, label: h.label, node: t.nodeName(i), ip: h.ip, up: t.agentUp(i) }
  if (!base.up) return base
  const api = t.api(i)
  const [members, all, ipam, diagnostics] = await Promise.all([api.members(), api.listNetworks(), api.ipamStatus(), api.diagnostics()])
  const networks = all.filter(n => n.Name.startsWith(o.networkPrefix))
  const inspect: Record<string, NetworkInspect> = {}
  for (const n of networks) {
    // A network removed between the list and the inspect is simply not there any more.
    const ins = await api.inspectNetwork(n.Id, true).catch(() => undefined)
    if (ins !== undefined) inspect[n.Name] = ins
  }
  const snap: HostSnapshot = { ...base, members, networks: networks.filter(n => inspect[n.Name] !== undefined), inspect, ipam, diagnostics }
  if (o.kernel !== false) snap.sandboxes = await readSandboxes(t, i)
  return snap
}

const SECTION = '### ovnet-chaos '

/**
 * One command per host: list the agent's sandboxes and dump both tables of each. (Over ssh one
 * round trip instead of two per sandbox.)
 */
export async function readSandboxes (t: ChaosTarget, i: number): Promise<Record<string, SandboxView>> {
  const node = t.nodeName(i)
  if (!/^[A-Za-z0-9._-]+$/.test(node)) throw new Error(`unexpected node name ${node}`)
  const pattern = `^ovnet-${node.replace(/\./g, '\\.')}-[0-9a-f]{12}$`
  const script = [
    `for ns in $(ip netns list | awk '{print $1}' | grep -E '${pattern}'); do`,
    `  echo "${SECTION}$ns fdb"; bridge -n "$ns" -json fdb show dev vxlan0 2>&1 || true`,
    `  echo "${SECTION}$ns neigh"; ip -n "$ns" -json neigh show dev vxlan0 nud all 2>&1 || true`,
    'done'
  ].join('\n')
  const r = await t.exec(i, ['sh', '-c', script])
  if (r.code !== 0) throw new Error(`reading sandboxes on ${t.hosts[i]!.label}: ${r.stderr.trim()}`)
  return parseSandboxDump(r.stdout)
}

interface FdbJson { mac?: string, dst?: string, master?: string, flags?: string[], state?: string }
interface NeighJson { dst?: string, lladdr?: string, state?: string[] }

export function parseSandboxDump (out: string): Record<string, SandboxView> {
  const views: Record<string, SandboxView> = {}
  let cur: { ns: string, what: string, lines: string[] } | undefined
  const flush = (): void => {
    if (cur === undefined) return
    const view = views[cur.ns] ??= { fdb: [], neigh: [] }
    const text = cur.lines.join('\n').trim()
    let rows: unknown
    try {
      rows = text === '' ? [] : JSON.parse(text)
    } catch {
      view.error = `${cur.what}: ${text.split('\n')[0] ?? ''}`
      return
    }
    if (!Array.isArray(rows)) return
    if (cur.what === 'fdb') {
      for (const r of rows as FdbJson[]) {
        // The vxlan device's own remote entries only: not the bridge's (master) nor its address list.
        if (r.mac === undefined || r.dst === undefined || r.master !== undefined) continue
        if (r.flags !== undefined && !r.flags.includes('self')) continue
        if (r.mac === '00:00:00:00:00:00') continue
        view.fdb.push({ mac: r.mac, dst: r.dst, permanent: r.state === 'permanent' })
      }
    } else {
      for (const r of rows as NeighJson[]) {
        if (r.dst === undefined || isMulticast(r.dst)) continue
        view.neigh.push({ ip: r.dst, mac: r.lladdr, permanent: (r.state ?? []).includes('PERMANENT') })
      }
    }
  }
  for (const line of out.split('\n')) {
    if (line.startsWith(SECTION)) {
      flush()
      const [ns, what] = line.slice(SECTION.length).trim().split(' ')
      cur = { ns: ns!, what: what!, lines: [] }
    } else if (cur !== undefined) {
      cur.lines.push(line)
    }
  }
  flush()
  return views
}

function isMulticast (ip: string): boolean {
  if (ip.includes(':')) return ip.toLowerCase().startsWith('ff')
  const first = Number(ip.split('.')[0])
  return first >= 224 && first <= 239
}
