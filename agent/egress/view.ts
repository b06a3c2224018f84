/** The controller's state as the egress view: networks with endpoints on this host, their ports. */
import type { NetworkRecord } from '../../proto/index.js'
import type { LocalEndpoint } from '../local-state.js'
import type { EgressNetwork, EgressView } from './egress.js'

export function egressView (networks: Iterable<NetworkRecord>, local: Iterable<LocalEndpoint>): EgressView {
  const recs = new Map([...networks].map(n => [n.id, n]))
  const out = new Map<string, EgressNetwork>()
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
