/**
 * The chaos invariants on hand-made snapshots: a converged cluster passes, and each kind of
 * divergence the kit exists to catch is reported under its invariant.
 */
import assert from 'node:assert/strict'
import type { EndpointView, NetworkInspect } from '../../agent/index.js'
import { checkConverged, checkSafety, type InvariantName } from '../../deploy/chaos/invariants.js'
import type { ClusterSnapshot, HostSnapshot } from '../../deploy/chaos/observe.js'

const NID = 'a'.repeat(64)
const OTHER = 'b'.repeat(64)

interface Ep { eid: string, ip: string, host: number }

/** A converged 3-host cluster with one network; endpoints as given. */
function cluster (eps: Ep[], opts: { down?: number[] } = {}): ClusterSnapshot {
  const down = new Set(opts.down ?? [])
  const node = (i: number): string => `lab-h${i + 1}`
  const vtep = (i: number): string => `198.18.0.${11 + i}`
  const mac = (ip: string): string => `02:42:${ip.split('.').map(o => Number(o).toString(16).padStart(2, '0')).join(':')}`
  const live = eps.filter(e => !down.has(e.host))
  const hosts: HostSnapshot[] = [0, 1, 2].map(i => {
    const base = { index: i, label: `h${i + 1}`, node: node(i), ip: vtep(i), up: !down.has(i) }
    if (down.has(i)) return base
    const endpoints: EndpointView[] = live.map(e => ({
      Name: e.eid, EndpointID: e.eid, EndpointIP: e.ip, MacAddress: mac(e.ip), Node: node(e.host), Info: { 'Host IP': vtep(e.host) }, Programmed: true
    }))
    const containers = Object.fromEntries(live.filter(e => e.host === i).map(e => [e.eid, { Name: e.eid, EndpointID: e.eid, MacAddress: mac(e.ip), IPv4Address: `${e.ip}/24`, IPv6Address: '' }]))
    const ins: NetworkInspect = {
      Name: 'net', Id: NID, Created: '', Scope: 'global', Driver: 'overlay', EnableIPv6: false,
      IPAM: { Driver: 'ovnet', Options: {}, Config: [{ Subnet: '10.0.0.0/24', Gateway: '10.0.0.1' }] },
      Internal: false, Attachable: true, Containers: containers, Options: {}, Labels: {}, Peers: [], Endpoints: endpoints
    }
    const remote = live.filter(e => e.host !== i)
    const sandboxes = Object.keys(containers).length === 0
      ? {}
      : { [`ovnet-${node(i)}-${NID.slice(0, 12)}`]: { fdb: remote.map(e => ({ mac: mac(e.ip), dst: vtep(e.host), permanent: true })), neigh: remote.map(e => ({ ip: e.ip, mac: mac(e.ip), permanent: true })) } }
    return {
      ...base,
      members: [0, 1, 2].map(j => ({ Name: node(j), ID: `id${j}`, Address: vtep(j), Status: down.has(j) ? 'failed' as const : 'alive' as const, RTT: 0 })),
      networks: [{ Name: 'net', Id: NID, Created: '', Driver: 'overlay', Scope: 'global', Subnets: ['10.0.0.0/24'] }],
      inspect: { net: ins },
      ipam: { Pools: [{ Network: 'net', Subnet: '10.0.0.0/24', IPsInUse: live.length, DynamicIPsAvailable: 200, Ranges: [{ Range: '10.0.0.0/25', Owner: 'id0', IPsInUse: 1 }, { Range: '10.0.0.128/25', Owner: 'id1', IPsInUse: 1 }] }] },
      diagnostics: { node: {} as never, members: [], clocks: { network: 1, table: 1 }, digest: 'x', networks: [{ nid: 'ovnet-global', peers: [], tables: [], digest: 'd1-3' }] },
      sandboxes
    }
  })
  return { at: 0, hosts }
}

const EPS: Ep[] = [
  { eid: 'e1'.padEnd(64, '0'), ip: '10.0.0.2', host: 0 },
  { eid: 'e2'.padEnd(64, '0'), ip: '10.0.0.130', host: 1 },
  { eid: 'e3'.padEnd(64, '0'), ip: '10.0.0.66', host: 2 }
]
const ctx = { ownNetworkIds: new Set([NID, OTHER]) }
const names = (v: Array<{ invariant: InvariantName }>): InvariantName[] => [...new Set(v.map(x => x.invariant))].sort()

describe('chaos invariants', () => {
  it('a converged cluster passes every check, with a host down too', () => {
    assert.deepEqual(checkConverged(cluster(EPS), ctx), [])
    assert.deepEqual(checkConverged(cluster(EPS, { down: [2] }), ctx), [])
  })

  it('an endpoint missing from one host\'s view, or stale there', () => {
    const s = cluster(EPS)
    s.hosts[1]!.inspect!.net!.Endpoints!.pop()
    const v = checkConverged(s, ctx)
    assert.deepEqual(names(v), ['endpoints'])
    assert.match(v[0]!.detail, /missing endpoint e3/)
    const t = cluster(EPS, { down: [2] })
    t.hosts[0]!.inspect!.net!.Endpoints!.push({ ...t.hosts[0]!.inspect!.net!.Endpoints![0]!, EndpointID: 'ghost', Node: 'lab-h3' })
    assert.match(checkConverged(t, ctx).map(x => x.detail).join(), /stale endpoint ghost/)
  })

  it('a host that does not see a running agent alive, or sees a stopped one alive', () => {
    const s = cluster(EPS, { down: [2] })
    s.hosts[0]!.members![1]!.Status = 'suspect'
    s.hosts[1]!.members![2]!.Status = 'alive'
    const v = checkConverged(s, ctx)
    assert.deepEqual(names(v), ['membership'])
    assert.equal(v.length, 2)
  })

  it('NetworkDB digests that differ', () => {
    const s = cluster(EPS)
    s.hosts[2]!.diagnostics!.networks[0]!.digest = 'd2-3'
    assert.deepEqual(names(checkConverged(s, ctx)), ['digest'])
  })

  it('kernel: a missing, a stale, a learnt and a misdirected FDB entry; a wrong neighbour; a stale sandbox', () => {
    const s = cluster(EPS)
    const sb = s.hosts[0]!.sandboxes![`ovnet-lab-h1-${NID.slice(0, 12)}`]!
    sb.fdb[0]!.permanent = false // learnt (moby#53663)
    sb.fdb[1]!.dst = '198.18.0.99' // misdirected
    sb.fdb.push({ mac: '02:42:0a:00:00:09', dst: '198.18.0.12', permanent: true }) // stale
    sb.neigh[0]!.mac = '02:42:00:00:00:01'
    const detail = checkConverged(s, ctx).filter(x => x.invariant === 'kernel').map(x => x.detail).join('\n')
    assert.match(detail, /02:42:0a:00:00:82 -> 198\.18\.0\.12 is not permanent \(learnt\)/)
    assert.match(detail, /fdb 02:42:0a:00:00:42 -> 198\.18\.0\.99, want 198\.18\.0\.13/)
    assert.match(detail, /stale fdb 02:42:0a:00:00:09/)
    assert.match(detail, /neigh 10\.0\.0\.130 02:42:00:00:00:01, want 02:42:0a:00:00:82/)

    const t = cluster(EPS)
    delete t.hosts[1]!.sandboxes![`ovnet-lab-h2-${NID.slice(0, 12)}`]
    t.hosts[1]!.sandboxes![`ovnet-lab-h2-${OTHER.slice(0, 12)}`] = { fdb: [], neigh: [] }
    const k = checkConverged(t, ctx).filter(x => x.invariant === 'kernel').map(x => x.detail).join('\n')
    assert.match(k, /sandbox ovnet-lab-h2-aaaaaaaaaaaa is missing/)
    assert.match(k, /stale sandbox ovnet-lab-h2-bbbbbbbbbbbb \(network removed\)/)
    // a sandbox of a network that is not the run's is not judged
    const u = cluster(EPS)
    u.hosts[1]!.sandboxes!['ovnet-lab-h2-cccccccccccc'] = { fdb: [], neigh: [] }
    assert.deepEqual(checkConverged(u, ctx), [])
  })

  it('inspect saying an endpoint is not programmed, on a host using the network', () => {
    const s = cluster(EPS)
    s.hosts[2]!.inspect!.net!.Endpoints![0]!.Programmed = false
    assert.deepEqual(names(checkConverged(s, ctx)), ['programmed'])
  })

  it('safety: one address held twice, an endpoint on the gateway, overlapping pools and ranges — during a partition too', () => {
    const dup = cluster([...EPS, { eid: 'e4'.padEnd(64, '0'), ip: '10.0.0.2', host: 1 }])
    // partition: hosts' views of others differ; only what each host owns counts
    dup.hosts[2]!.inspect!.net!.Endpoints = []
    assert.match(checkSafety(dup).map(x => x.detail).join(), /10\.0\.0\.2 held by 2 endpoints/)
    const gw = cluster([...EPS, { eid: 'e5'.padEnd(64, '0'), ip: '10.0.0.1', host: 2 }])
    assert.match(checkSafety(gw).map(x => x.detail).join(), /the gateway 10\.0\.0\.1 is also an endpoint's address/)

    const pools = cluster(EPS)
    pools.hosts[0]!.networks!.push({ Name: 'other', Id: OTHER, Created: '', Driver: 'overlay', Scope: 'global', Subnets: ['10.0.0.128/25'] })
    pools.hosts[1]!.ipam!.Pools[0]!.Ranges.push({ Range: '10.0.0.100-10.0.0.140', Owner: 'id2', IPsInUse: 0 })
    const v = checkSafety(pools)
    assert.deepEqual(names(v), ['pools'])
    assert.match(v.map(x => x.detail).join('\n'), /networks net \(10\.0\.0\.0\/24\) and other \(10\.0\.0\.128\/25\) overlap/)
    assert.match(v.map(x => x.detail).join('\n'), /10\.0\.0\.100-10\.0\.0\.140 \(id2\) overlap/)
    // a clean cluster is safe
    assert.deepEqual(checkSafety(cluster(EPS)), [])
  })

  it('an agent that should answer and does not', () => {
    const s = cluster(EPS)
    s.hosts[1] = { index: 1, label: 'h2', node: 'lab-h2', ip: '198.18.0.12', up: true, error: 'ECONNREFUSED' }
    assert.ok(names(checkConverged(s, ctx)).includes('agents'))
  })
})
