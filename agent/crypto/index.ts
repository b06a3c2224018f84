/**
 * The encrypted data plane (a room of the agent layer): WireGuard between hosts for networks
 * with the `encrypted` option. See docs/encryption.md.
 */
export {
  WireguardEncryption, WG_OVERHEAD_IPV4, WG_OVERHEAD_IPV6, type EncryptionOptions, type EncryptionPeerView,
  type EncryptionView
} from './encryption.js'
export {
  DEFAULT_WG_INTERFACE, DEFAULT_WG_PORT, detectMode, parseDump, validIfName, WgDevice, type WgDeviceState,
  type WgPeerSpec
} from './device.js'
export { generateKeyPair, KeyFileError, KeyStore, publicKeyOf, WIREGUARD_KEY_FILE, type KeyPair } from './keys.js'
export { GUARD_CHAIN, installSteering, removeSteering, STEER_PREF, STEER_TABLE } from './steering.js'
