/**
 * The overlay layer's public surface: the driver contract (driverapi), the VXLAN overlay driver,
 * its Dataplane port with the Linux and in-memory adapters, VNI allocation, and the glue that
 * routes NetworkDB table events to drivers.
 */
export * from './driverapi.js'
export * from './errors.js'
export * from './dataplane.js'
export { LinuxDataplane, type LinuxDataplaneOptions } from './dataplane-linux.js'
export { MemoryDataplane, type MemoryDataplaneOptions, type MemoryOp, type MemorySandbox } from './dataplane-memory.js'
export {
  OverlayDriver, OVERLAY_DRIVER_TYPE, IFNAME_OPTION, HANDOFF_OPTION, MTU_OPTION, type OverlayDriverOptions
} from './driver.js'
export { ENCRYPTED_OPTION, encryptedOption, type EncryptionPort } from './encryption.js'
export { PeerDB, type Peer, type PeerRank, type LocalEndpoint } from './peerdb.js'
export { diffTables, SandboxProgrammer, type Desired, type DriftCounts, type ReconcileReport } from './reconciler.js'
export {
  AUTO_VNI_RANGE, claimBeats, OVERLAY_GLOBAL_NETWORK, parseVxlanIdList, VniAllocator, VXLANID_LIST,
  type ClaimView, type VniAllocatorOptions, type VniConflict
} from './vni.js'
export { TableGlue, type TableEntry } from './table-glue.js'
export { SharedLock } from './shared-lock.js'
export { EndpointInterface, EndpointJoinInfo, type StaticRoute } from './endpoint-info.js'
export type * from './status.js'
