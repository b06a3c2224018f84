/**
 * NetworkDB's adapter entry: the production adapters of its ports — the libp2p transport, the LMDB
 * node store, the node identity file — and the patches of libp2p's dependencies they need.
 * Importing this module has process-wide effects, in this order: xsalsa20-fix, yamux-window-fix,
 * ed25519-key-cache and tcp-write-cork patch dependency code, libp2p-guard installs an
 * 'uncaughtException' handler.
 * Only the agent's composition root (agent/compose.ts), the benches and the tests of these
 * adapters import it; networkdb/index.ts never does.
 */
import './xsalsa20-fix.js'
import './libp2p-guard.js'
import './yamux-window-fix.js'
import './ed25519-key-cache.js'
import './tcp-write-cork.js'

export {
  Libp2pTransport, TransportError, RR_PROTOCOL, clusterGossipOptions, toMultiaddr, type Libp2pTransportOptions,
  type TransportErrorReason
} from './libp2p-transport.js'
export { LmdbStore } from './lmdb-store.js'
export { loadOrCreateIdentity, nodeIdOf, IdentityError, IDENTITY_FILE } from './identity.js'
