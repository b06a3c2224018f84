/**
 * What a peer runs, known without asking it. libp2p's identify protocol opens a stream on every
 * new connection, in both directions, to learn the peer's protocols: a protobuf with its
 * addresses, protocols and a signed peer record, verified and written to the peer store. Only
 * then does the registrar tell gossipsub (and any other topology) that the peer is there.
 * In a cluster every member runs this same transport: the protocols a member speaks are the ones
 * we speak. So on a new connection this service announces the peer at once (the registrar's
 * `peer:identify` event) with our own protocols, and identify itself only answers peers that
 * ask (a member of an older version still asks; it gets its answer).
 *
 * Per connection that saves two streams, two signed records and their peer-store writes: a joiner
 * of 19 members spent ~8 % of its start-up CPU in identify (docs/BENCHMARKS.md, session 8).
 * Should a peer not speak a protocol after all (another version), opening that stream fails
 * in protocol negotiation, as it would against a peer that identify had wrongly described.
 */
import type { Connection, IdentifyResult, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'

export interface ClusterIdentifyComponents {
  events: TypedEventTarget<Libp2pEvents>
  registrar: { getProtocols: () => string[] }
}

export class ClusterIdentify {
  private readonly onOpen = (evt: CustomEvent<Connection>): void => { this.announce(evt.detail) }

  constructor (private readonly components: ClusterIdentifyComponents, private readonly enabled = true) {}

  readonly [Symbol.toStringTag] = 'ovnet/cluster-identify'

  start (): void { if (this.enabled) this.components.events.addEventListener('connection:open', this.onOpen) }

  stop (): void { this.components.events.removeEventListener('connection:open', this.onOpen) }

  private announce (connection: Connection): void {
    if (connection.status !== 'open') return
    const detail: IdentifyResult = {
      peerId: connection.remotePeer,
      listenAddrs: [],
      protocols: this.components.registrar.getProtocols(),
      connection
    }
    this.components.events.safeDispatchEvent('peer:identify', { detail })
  }
}

/** `enabled: false`: a member that identifies its peers the standard way (tests). */
export function clusterIdentify (
  { enabled = true }: { enabled?: boolean } = {}
): (components: ClusterIdentifyComponents) => ClusterIdentify {
  return (components) => new ClusterIdentify(components, enabled)
}
