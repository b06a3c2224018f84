/**
 * The controller's state as the egress view: networks with endpoints on this host, their ports,
 * and networks whose first attach here is being prepared (`preparing`: their sandbox gets its
 * uplink before the endpoint exists; agent/network-prepare.ts).
 */
import type { NetworkRecord } from '../../proto/index.js'
import type { LocalEndpoint } from '../local-state.js'
import type { EgressNetwork, EgressView } from './egress.js'

export function egressView (
  networks: Iterable<NetworkRecord>, local: Iterable<LocalEndpoint>, preparing: Iterable<string> = []
): EgressView {
  const recs = new Map([...networks].map(n => [n.id, n]))
  const out = new Map<string, EgressNetwork>()
  for (const nid of preparing) {
    const rec = recs.get(nid)
    if (rec === undefined) continue
    out.set(nid, { nid, name: rec.name, subnet: rec.subnet, internal: rec.internal, endpoints: [] })
  }
  for (const ep of local) {
    const rec = recs.get(ep.nid)
    if (rec === undefined) continue
    let n = out.get(rec.id)
    if (n === undefined) {
      n = { nid: rec.id, name: rec.name, subnet: rec.subnet, internal: rec.internal, endpoints: [] }
      out.set(rec.id, n)
    }
    n.endpoints.push({ eid: ep.eid, ip: ep.address.split('/')[0]!, publish: rec.internal ? [] : ep.publish ?? [] })
  }
  return { networks: [...out.values()], overlaySubnets: [...recs.values()].map(r => r.subnet) }
}
