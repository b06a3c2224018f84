/**
 * The invariants, as pure functions of a snapshot: no I/O, so each can be tested on hand-made
 * snapshots (test/chaos/invariants.test.ts) and re-run on a saved report.
 *
 * Safety (`checkSafety`) must hold at every instant, partitions included:
 *   addresses  no address held by two endpoints of a network, none equal to its gateway;
 *   pools      no two networks' subnets overlap; in one host's IPAM view no two owners' ranges
 *              of a pool overlap.
 * Convergence (`checkConverged`) must hold once the faults are healed and the cluster settled:
 *   agents, membership  every running agent answers and sees exactly the running ones alive;
 *   networks    every host lists the same networks;
 *   endpoints   every host's cluster view (inspect --verbose) holds exactly the endpoints the
 *               running hosts own (each host is the authority on its own endpoints);
 *   digest      NetworkDB's digest of each network is equal on all hosts in it;
 *   programmed  inspect says every endpoint is programmed, on hosts using the network;
 *   kernel      each sandbox's FDB and neighbour tables are exactly the remote endpoints, all
 *               permanent (no missing, wrong, learnt or stale entry), and no sandbox is left
 *               for a network the host no longer uses.
 */
import { ipv4Span, spansOverlap } from '../../core/index.js'
import { sandboxName, type ClusterSnapshot, type HostSnapshot } from './observe.js'

export type InvariantName =
  | 'agents' | 'membership' | 'networks' | 'endpoints' | 'digest' | 'programmed' | 'kernel'
  | 'addresses' | 'pools' | 'failure-timeout' | 'ping' | 'isolation' | 'model' | 'fault' | 'moby53663' | 'availability'

export interface Violation {
  invariant: InvariantName
  detail: string
  host?: string
  network?: string
}

interface Owned { eid: string, ip: string, mac: string, node: string, vtep: string, host: string }

/** Hosts whose agent is up and answered. */
export function liveHosts (s: ClusterSnapshot): HostSnapshot[] {
  return s.hosts.filter(h => h.up && h.error === undefined)
}

/** Per network name: the endpoints the live hosts own (their local `Containers`), by endpoint id. */
export function ownedEndpoints (s: ClusterSnapshot): Map<string, Map<string, Owned>> {
  const out = new Map<string, Map<string, Owned>>()
  for (const h of liveHosts(s)) {
    for (const [name, ins] of Object.entries(h.inspect ?? {})) {
      const m = out.get(name) ?? new Map<string, Owned>()
      out.set(name, m)
      for (const [eid, c] of Object.entries(ins.Containers)) {
        m.set(eid, { eid, ip: c.IPv4Address.split('/')[0]!, mac: c.MacAddress.toLowerCase(), node: h.node, vtep: h.ip, host: h.label })
      }
    }
  }
  return out
}

export function checkSafety (s: ClusterSnapshot): Violation[] {
  const v: Violation[] = []
  const live = liveHosts(s)
  // addresses: from each host's own endpoints only. Views of other hosts' endpoints may lag (an
  // address freed on A and reused there may still show under its old endpoint on B): not a
  // double allocation.
  for (const [network, eps] of ownedEndpoints(s)) {
    const byIp = new Map<string, Owned[]>()
    for (const e of eps.values()) byIp.set(e.ip, [...(byIp.get(e.ip) ?? []), e])
    for (const [ip, holders] of byIp) {
      if (holders.length > 1) v.push({ invariant: 'addresses', network, detail: `${ip} held by ${holders.length} endpoints: ${holders.map(e => `${e.eid.slice(0, 12)}@${e.host}`).join(', ')}` })
    }
    for (const h of live) {
      const gw = h.inspect?.[network]?.IPAM.Config[0]?.Gateway
      if (gw !== undefined && byIp.has(gw)) v.push({ invariant: 'addresses', network, host: h.label, detail: `the gateway ${gw} is also an endpoint's address` })
    }
  }
  // pools: the subnets of all networks any host knows, and each host's IPAM view.
  const subnets = new Map<string, { subnet: string, name: string, host: string }>()
  for (const h of live) {
    for (const n of h.networks ?? []) {
      const subnet = n.Subnets[0]
      if (subnet === undefined) continue
      const known = subnets.get(n.Id)
      if (known !== undefined && known.subnet !== subnet) v.push({ invariant: 'pools', network: n.Name, detail: `${known.host} says ${known.subnet}, ${h.label} says ${subnet}` })
      if (known === undefined) subnets.set(n.Id, { subnet, name: n.Name, host: h.label })
    }
  }
  const list = [...subnets.entries()]
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const [, a] = list[i]!
      const [, b] = list[j]!
      if (spansOverlap(a.subnet, b.subnet)) v.push({ invariant: 'pools', detail: `networks ${a.name} (${a.subnet}) and ${b.name} (${b.subnet}) overlap` })
    }
  }
  for (const h of live) {
    const pools = h.ipam?.Pools ?? []
    for (let i = 0; i < pools.length; i++) {
      for (let j = i + 1; j < pools.length; j++) {
        const a = pools[i]!
        const b = pools[j]!
        if (a.Network !== b.Network && spansOverlap(a.Subnet, b.Subnet)) v.push({ invariant: 'pools', host: h.label, detail: `IPAM pools ${a.Subnet} (${a.Network || '-'}) and ${b.Subnet} (${b.Network || '-'}) overlap` })
      }
      const ranges = pools[i]!.Ranges.map(r => ({ r, span: ipv4Span(r.Range) }))
      for (let x = 0; x < ranges.length; x++) {
        for (let y = x + 1; y < ranges.length; y++) {
          const a = ranges[x]!
          const b = ranges[y]!
          if (a.r.Owner !== b.r.Owner && a.span[0] <= b.span[1] && b.span[0] <= a.span[1]) {
            v.push({ invariant: 'pools', host: h.label, detail: `pool ${pools[i]!.Subnet}: ${a.r.Range} (${a.r.Owner.slice(0, 12)}) and ${b.r.Range} (${b.r.Owner.slice(0, 12)}) overlap` })
          }
        }
      }
    }
  }
  return v
}

export interface ConvergeContext {
  /** Ids of every network the run ever created (a sandbox of any other is not the run's to judge). */
  ownNetworkIds: ReadonlySet<string>
}

export function checkConverged (s: ClusterSnapshot, ctx: ConvergeContext): Violation[] {
  const v: Violation[] = []
  for (const h of s.hosts) {
    if (h.up && h.error !== undefined) v.push({ invariant: 'agents', host: h.label, detail: `agent does not answer: ${h.error}` })
  }
  const live = liveHosts(s)
  const upNodes = new Set(s.hosts.filter(h => h.up).map(h => h.node))
  const downNodes = new Set(s.hosts.filter(h => !h.up).map(h => h.node))

  for (const h of live) {
    const alive = new Set((h.members ?? []).filter(m => m.Status === 'alive').map(m => m.Name))
    const missing = [...upNodes].filter(n => !alive.has(n))
    const ghosts = [...downNodes].filter(n => alive.has(n))
    if (missing.length > 0) v.push({ invariant: 'membership', host: h.label, detail: `does not see alive: ${missing.join(', ')}` })
    if (ghosts.length > 0) v.push({ invariant: 'membership', host: h.label, detail: `sees a stopped agent alive: ${ghosts.join(', ')}` })
  }

  const netKey = (h: HostSnapshot): string => (h.networks ?? []).map(n => `${n.Name}=${n.Id.slice(0, 12)}`).sort().join(' ')
  const keys = new Map(live.map(h => [h.label, netKey(h)]))
  if (new Set(keys.values()).size > 1) {
    v.push({ invariant: 'networks', detail: `hosts list different networks: ${[...keys].map(([l, k]) => `${l}: [${k}]`).join('; ')}` })
  }

  const owned = ownedEndpoints(s)
  const networkIds = new Map<string, string>()
  for (const h of live) for (const n of h.networks ?? []) networkIds.set(n.Name, n.Id)
  for (const h of live) {
    for (const [network, ins] of Object.entries(h.inspect ?? {})) {
      const want = owned.get(network) ?? new Map<string, Owned>()
      const have = new Map((ins.Endpoints ?? []).map(e => [e.EndpointID, e]))
      for (const [eid, e] of want) {
        const got = have.get(eid)
        if (got === undefined) { v.push({ invariant: 'endpoints', host: h.label, network, detail: `missing endpoint ${eid.slice(0, 12)} (${e.ip} on ${e.host})` }); continue }
        if (got.EndpointIP !== e.ip || got.MacAddress.toLowerCase() !== e.mac || got.Node !== e.node || got.Info['Host IP'] !== e.vtep) {
          v.push({ invariant: 'endpoints', host: h.label, network, detail: `endpoint ${eid.slice(0, 12)}: sees ${got.EndpointIP} ${got.MacAddress} on ${got.Node}/${got.Info['Host IP']}, owner says ${e.ip} ${e.mac} on ${e.node}/${e.vtep}` })
        }
      }
      for (const [eid, e] of have) {
        if (!want.has(eid)) v.push({ invariant: 'endpoints', host: h.label, network, detail: `stale endpoint ${eid.slice(0, 12)} (${e.EndpointIP} on ${e.Node}) that no running host owns` })
      }
      const local = Object.keys(ins.Containers).length > 0
      if (local) {
        const unprogrammed = (ins.Endpoints ?? []).filter(e => !e.Programmed)
        if (unprogrammed.length > 0) v.push({ invariant: 'programmed', host: h.label, network, detail: `not programmed: ${unprogrammed.map(e => `${e.EndpointIP}@${e.Node}`).join(', ')}` })
      }
    }
  }

  // NetworkDB digests: equal on every live host in the network.
  const digests = new Map<string, Map<string, string>>()
  for (const h of live) {
    for (const n of h.diagnostics?.networks ?? []) {
      const m = digests.get(n.nid) ?? new Map<string, string>()
      m.set(h.label, n.digest)
      digests.set(n.nid, m)
    }
  }
  for (const [nid, m] of digests) {
    if (new Set(m.values()).size > 1) v.push({ invariant: 'digest', detail: `network ${nid.slice(0, 12)}: ${[...m].map(([l, d]) => `${l}=${d}`).join(' ')}` })
  }

  v.push(...checkKernel(live, owned, networkIds, ctx))
  v.push(...checkSafety(s))
  return v
}

function checkKernel (live: HostSnapshot[], owned: Map<string, Map<string, Owned>>, networkIds: Map<string, string>, ctx: ConvergeContext): Violation[] {
  const v: Violation[] = []
  for (const h of live) {
    if (h.sandboxes === undefined) continue
    const expectedSandboxes = new Set<string>()
    for (const [network, ins] of Object.entries(h.inspect ?? {})) {
      if (Object.keys(ins.Containers).length === 0) continue
      const sb = sandboxName(h.node, ins.Id)
      expectedSandboxes.add(sb)
      const view = h.sandboxes[sb]
      if (view === undefined) { v.push({ invariant: 'kernel', host: h.label, network, detail: `sandbox ${sb} is missing` }); continue }
      if (view.error !== undefined) { v.push({ invariant: 'kernel', host: h.label, network, detail: `sandbox ${sb}: ${view.error}` }); continue }
      const remote = [...(owned.get(network) ?? new Map<string, Owned>()).values()].filter(e => e.node !== h.node)
      const fdbWant = new Map(remote.map(e => [e.mac, e.vtep]))
      const neighWant = new Map(remote.map(e => [e.ip, e.mac]))
      const problems: string[] = []
      for (const row of view.fdb) {
        const want = fdbWant.get(row.mac)
        if (want === undefined) problems.push(`stale fdb ${row.mac} -> ${row.dst}`)
        else if (row.dst !== want) problems.push(`fdb ${row.mac} -> ${row.dst}, want ${want}`)
        else if (!row.permanent) problems.push(`fdb ${row.mac} -> ${row.dst} is not permanent (learnt)`)
      }
      for (const [mac, dst] of fdbWant) if (!view.fdb.some(r => r.mac === mac)) problems.push(`missing fdb ${mac} -> ${dst}`)
      for (const row of view.neigh) {
        const want = neighWant.get(row.ip)
        if (want === undefined) problems.push(`stale neigh ${row.ip} ${row.mac ?? '(none)'}`)
        else if (row.mac !== want) problems.push(`neigh ${row.ip} ${row.mac ?? '(none)'}, want ${want}`)
        else if (!row.permanent) problems.push(`neigh ${row.ip} ${row.mac} is not permanent`)
      }
      for (const [ip, mac] of neighWant) if (!view.neigh.some(r => r.ip === ip)) problems.push(`missing neigh ${ip} ${mac}`)
      if (problems.length > 0) v.push({ invariant: 'kernel', host: h.label, network, detail: `${sb}: ${problems.join('; ')}` })
    }
    const ownPrefixes = new Set([...ctx.ownNetworkIds].map(id => sandboxName(h.node, id)))
    for (const sb of Object.keys(h.sandboxes)) {
      if (!expectedSandboxes.has(sb) && ownPrefixes.has(sb)) {
        const name = [...networkIds].find(([, id]) => sandboxName(h.node, id) === sb)?.[0]
        v.push({ invariant: 'kernel', host: h.label, ...(name === undefined ? {} : { network: name }), detail: `stale sandbox ${sb}${name === undefined ? ' (network removed)' : ' (no local endpoint)'}` })
      }
    }
  }
  return v
}

/** Group violations by invariant, for reports: "kernel ×3, endpoints ×1". */
export function summarize (v: readonly Violation[]): string {
  const counts = new Map<string, number>()
  for (const x of v) counts.set(x.invariant, (counts.get(x.invariant) ?? 0) + 1)
  return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ')
}

export function formatViolation (x: Violation): string {
  const where = [x.host, x.network].filter(s => s !== undefined).join('/')
  return `[${x.invariant}]${where === '' ? '' : ` ${where}:`} ${x.detail}`
}
