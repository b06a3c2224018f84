/** Argument checks of NetworkDB's API and the origin rules of its gossip. */
import { type GossipMessage } from '../proto/index.js'
import { InvalidArgumentError } from './errors.js'

export const CLUSTER_TOPIC = 'ovnet/1/cluster'
export const networkTopic = (nid: string): string => `ovnet/1/net/${nid}`

export function checkName (what: string, s: string, max: number): void {
  if (typeof s !== 'string' || s.length === 0 || s.length > max) {
    throw new InvalidArgumentError(`${what} must be a non-empty string of at most ${max} characters`)
  }
}

/**
 * Origin rules for gossip, whose `from` the transport authenticated (gossipsub strict signing):
 * a node announces its own alive/left and its own network membership; suspect/failed come from
 * whoever detected them; table entries come from their owner, on their network's topic.
 * Returns the violation, if any.
 */
export function authenticate (topic: string, from: string, msg: GossipMessage): string | undefined {
  switch (msg.t) {
    case 'node':
      return (msg.b.kind === 'alive' || msg.b.kind === 'left') && msg.b.node !== from
        ? 'node-event-not-from-node'
        : undefined
    case 'net':
      return msg.b.node !== from ? 'network-event-not-from-node' : undefined
    case 'tables':
      if (topic !== networkTopic(msg.b.nid)) return 'wrong-topic'
      return msg.b.entries.some(e => e.owner !== from) ? 'not-owner' : undefined
  }
}
