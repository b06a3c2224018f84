/**
 * NetworkDB: the replicated store and cluster membership. The layer's public surface; importing it
 * has no side effects. The production adapters (libp2p transport, LMDB store, node identity) and
 * the dependency patches they need are in the adapter entry, networkdb/adapters.ts.
 */
export * from './types.js'
export * from './errors.js'
export { type Transport, type TransportHandlers } from './transport.js'
export { type NetworkDBConfig, defaultConfig, resolveConfig } from './config.js'
export { type NodeStore, MemoryStore } from './store.js'
export { newer, type Version } from './tables.js'
export {
  NetworkDBNode, type NetworkDBOptions, CLUSTER_TOPIC, networkTopic, JOIN_ANNOUNCE_MAX_DELAY_MS
} from './networkdb.js'
export { MemoryNetwork, MemoryTransport } from './memory-transport.js'
export { createMemoryCluster, driven, type MemoryCluster, type MemoryClusterOptions } from './testing.js'
export { generateClusterKey, loadClusterKey, parseClusterKey, ClusterKeyError } from './cluster-key.js'
