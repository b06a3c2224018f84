/**
 * What a node believes from a peer that holds the cluster key (docs/security.md, "A keyed but
 * hostile host"). The transport authenticates the sender of every frame (gossipsub signature,
 * noise session: `from` is the peer id, i.e. the node id). On top of that:
 *
 * - An entry is stored only when it comes from its owner, on every path (gossip, bulk sync answer,
 *   push). A bulk sync answer also lists other owners' entries; those are hints, never stored: a
 *   hint newer than what we hold makes us sync with its owner (`own` sync: the owner sends only
 *   its own entries). Entries restored from our store are our own by construction.
 * - A key is bound to its owner: a live entry (visible or hidden) can be replaced only by a version
 *   of the same owner. A tombstone frees the key. Takeover tables (TAKEOVER_TABLES) are cluster
 *   objects any member may replace or delete, as `network rm` from any host does.
 * - In owner-keyed tables (OWNER_KEYED_TABLES) the key is the owner's node id; nothing else is stored.
 * - Clocks: a Lamport time or an incarnation far ahead of what this node knows (its own clock, or
 *   wall-clock ms, whichever is higher) is rejected, so no frame can push a clock near 2^53.
 * - Node and network events: in push-pull (not gossip, whose origin rule validate.ts checks) an
 *   event about another node cannot say it left (it counts as failed, which anyone may say, and
 *   which the node refutes), cannot rewrite its name or addresses, and cannot take it out of a
 *   network.
 */
import { WIREGUARD_PEER_TABLE, type WireNetworkEvent, type WireNodeEvent } from '../proto/index.js'

/** Largest jump of a table or network Lamport time beyond what the receiver knows. */
export const MAX_LTIME_AHEAD = 2 ** 20
/** Largest jump of an incarnation beyond what the receiver knows (~70 min of wall-clock skew). */
export const MAX_INC_AHEAD = 2 ** 22
/** No Lamport time or incarnation above this is ever accepted (2^53 stays out of reach). */
export const MAX_CLOCK = 2 ** 50

/**
 * Tables whose entries are cluster objects: any member may replace or delete another member's
 * entry (a takeover write). The agent's network definitions (re-announced by a live node when the
 * writer fails, deleted by `network rm` on any host) and removal records (proto/agent.ts).
 */
export const TAKEOVER_TABLES: ReadonlySet<string> = new Set(['network_table', 'network_removal_table'])

/**
 * Tables keyed by their owner's node id: a node writes only its own key, and an entry under any
 * other key is dropped, so no host can squat another's key before it (WireGuard public keys).
 */
export const OWNER_KEYED_TABLES: ReadonlySet<string> = new Set([WIREGUARD_PEER_TABLE])

/** May `owner` hold `key` in `table` at all (OWNER_KEYED_TABLES)? */
export function keyAllowed (table: string, key: string, owner: string): boolean {
  return !OWNER_KEYED_TABLES.has(table) || key === owner
}

/** Whether `v` jumps too far ahead of `known` (wall-clock ms `now` counts as known). */
export function tooFarAhead (v: number, known: number, now: number, ahead: number): boolean {
  return v > MAX_CLOCK || v > Math.max(known, now) + ahead
}

/** The holder of a key as this node sees it. */
export interface KeyHolder { owner: string, deleted: boolean }

/** May a version by `owner` replace `cur` in `table`? */
export function mayReplace (cur: KeyHolder | undefined, owner: string, table: string): boolean {
  return cur === undefined || cur.owner === owner || cur.deleted || TAKEOVER_TABLES.has(table)
}

/** What this node knows of a member, for screening events about it. */
export interface KnownMember { name: string, advertise: string, addrs: string[], status: string }

/**
 * Screen one node event of a push-pull from `from`. Events about `from` itself pass. About
 * another node: `left` counts as `failed` (only a node says it left; that it failed anyone may
 * say, and it refutes that) unless this node suspects it or found it failed already (then it is
 * likely the news of a leave we missed; a live node still refutes it and re-asserts its entries);
 * a known node keeps its name and addresses.
 */
export function screenNodeEvent (ev: WireNodeEvent, from: string, known: KnownMember | undefined): WireNodeEvent {
  if (ev.node === from) return ev
  const kind = ev.kind === 'left' && (known === undefined || known.status === 'alive') ? 'failed' : ev.kind
  if (known === undefined) return { ...ev, kind }
  return { ...ev, kind, name: known.name, advertise: known.advertise, addrs: known.addrs }
}

/** A push-pull's network event from `from`: about another node only a join passes (discovery). */
export function screenNetworkEvent (ev: WireNetworkEvent, from: string): boolean {
  return ev.node === from || ev.join
}
