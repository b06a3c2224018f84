/**
 * The IPAM's adapter entry: the LMDB adapter of its store port. Kept out of ipam/index.ts so that
 * importing the layer loads no native database module.
 */
export { LmdbIpamStore } from './lmdb-store.js'
