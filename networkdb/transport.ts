/**
 * Transport port: what NetworkDB needs from the network, nothing more. Two adapters implement it:
 * `MemoryNetwork` (in-process, virtual time, loss and partitions) and `Libp2pTransport` (TCP, noise,
 * yamux, pnet, gossipsub with strict signing).
 *
 * Node ids are transport identities (a libp2p peer id string on real sockets); `from` in a handler
 * is authenticated by the transport (gossipsub signature, noise session), never taken from a payload.
 */
/**
 * A response collected whole (request() without onFrame: push-pull, push acks, indirect probes)
 * is at most this many frames and bytes; a peer that sends more fails the exchange instead of
 * filling memory until the timeout. Streamed responses (onFrame) are handled frame by frame.
 */
export const MAX_COLLECTED_FRAMES = 64
export const MAX_COLLECTED_BYTES = 16 * 1024 * 1024

/** Whether one more frame of `size` bytes exceeds the collection limits. */
export function overCollected (frames: number, bytes: number): boolean {
  return frames > MAX_COLLECTED_FRAMES || bytes > MAX_COLLECTED_BYTES
}

export interface TransportHandlers {
  /** A pub/sub message on a subscribed topic, originated (and signed) by `from`. */
  onMessage(topic: string, from: string, data: Uint8Array): void
  /**
   * A request/response exchange started by `from`. Returns the response frames (each within the
   * frame size limit), which may be made lazily (a generator): the transport sends each before it
   * asks for the next. A thrown error closes the exchange without a complete response.
   */
  onRequest(from: string, data: Uint8Array): Promise<Iterable<Uint8Array>>
  /** A transport-level connection to `peer` opened or closed (hints for failure detection). */
  onPeerConnected(peer: string): void
  onPeerDisconnected(peer: string): void
}

export interface Transport {
  /** This node's id; stable across restarts when the identity is persisted. */
  readonly localId: string
  /** Dialable addresses of this node, announced to the cluster. */
  addresses(): string[]
  start(handlers: TransportHandlers): Promise<void>
  stop(): Promise<void>
  /** Connect to an address (a seed, or a member's announced address). Resolves to the peer's id. */
  dial(addr: string, timeoutMs: number): Promise<string>
  /** Ensure a connection to a known peer, using its announced addresses when not connected. */
  connect(peer: string, addrs: readonly string[], timeoutMs: number): Promise<void>
  /** Close connections to a peer (it left or failed). */
  disconnect(peer: string): Promise<void>
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** Best-effort broadcast to every subscriber of `topic` (not to self). */
  publish(topic: string, data: Uint8Array): Promise<void>
  /**
   * One request, its response frames; rejects on timeout or when the peer is unreachable. With
   * `onFrame`, each response frame is handed over as it arrives instead (the promise resolves to
   * []): the caller works on the first frames while later ones travel. A throw from `onFrame`
   * fails the exchange.
   */
  request(
    peer: string, data: Uint8Array, timeoutMs: number, onFrame?: (frame: Uint8Array) => void
  ): Promise<Uint8Array[]>
  /** Round-trip time in ms of a liveness probe; rejects on timeout or when unreachable. */
  probe(peer: string, timeoutMs: number): Promise<number>
  /** Peers with an open connection now. */
  connectedPeers(): string[]
}
