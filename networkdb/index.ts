/** NetworkDB: the replicated store and cluster membership. The layer's whole public surface. */
export * from './types.js'
export * from './errors.js'
export { type Transport, type TransportHandlers } from './transport.js'
export { type NetworkDBConfig, defaultConfig, resolveConfig } from './config.js'
export { type NodeStore, MemoryStore, LmdbStore } from './store.js'
export {
  NetworkDBNode, type NetworkDBOptions, CLUSTER_TOPIC, networkTopic, JOIN_ANNOUNCE_MAX_DELAY_MS
} from './networkdb.js'
export { MemoryNetwork, MemoryTransport } from './memory-transport.js'
export { createMemoryCluster, driven, type MemoryCluster, type MemoryClusterOptions } from './testing.js'
export {
  Libp2pTransport, TransportError, RR_PROTOCOL, clusterGossipOptions, toMultiaddr, type Libp2pTransportOptions,
  type TransportErrorReason
} from './libp2p-transport.js'
export { generateClusterKey, loadClusterKey, parseClusterKey, ClusterKeyError } from './cluster-key.js'
export { loadOrCreateIdentity, nodeIdOf, IdentityError, IDENTITY_FILE } from './identity.js'
