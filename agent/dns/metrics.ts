/** The resolver's metrics, registered once through the agent's Metrics port. */
import type { Metrics } from '../../core/index.js'

export type DropReason = 'malformed' | 'response' | 'unknown-source' | 'oversize'
export type ForwardResult = 'ok' | 'timeout' | 'error'

export interface DnsMetrics {
  query(transport: 'udp' | 'tcp'): void
  answer(rcode: string, source: 'local' | 'forward', seconds: number): void
  dropped(reason: DropReason): void
  forward(result: ForwardResult, transport: 'udp' | 'tcp'): void
  listeners(n: number): void
}

/** Seconds; local answers take tens of microseconds, forwarded ones up to the upstream timeout. */
const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export function dnsMetrics (m: Metrics): DnsMetrics {
  const queries = m.counter('ovnet_dns_queries_total', 'DNS queries received from containers', ['transport'])
  const answers = m.counter(
    'ovnet_dns_answers_total', 'DNS answers sent, by response code and source', ['rcode', 'source']
  )
  const dropped = m.counter('ovnet_dns_dropped_total', 'DNS packets dropped without an answer', ['reason'])
  const forwards = m.counter(
    'ovnet_dns_forwards_total', 'queries forwarded to the host\'s resolvers, by outcome', ['result', 'transport']
  )
  const listeners = m.gauge('ovnet_dns_listeners', 'network sandboxes with a listening resolver on this host')
  const latency = m.histogram?.('ovnet_dns_answer_seconds', 'time from a query to its answer', BUCKETS, ['source'])
  return {
    query: t => { queries.inc({ transport: t }) },
    answer: (rcode, source, s) => { answers.inc({ rcode, source }); latency?.observe({ source }, s) },
    dropped: reason => { dropped.inc({ reason }) },
    forward: (result, transport) => { forwards.inc({ result, transport }) },
    listeners: n => { listeners.set({}, n) }
  }
}
