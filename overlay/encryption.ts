/**
 * The overlay's view of the encrypted data plane (the agent's crypto room implements it).
 *
 * An encrypted network (Docker's option name `encrypted`) differs from a plain one in two ways
 * only: its vxlan device uses the encrypted VXLAN port, which the host steers into its WireGuard
 * device (policy routing on that destination port) and refuses from anywhere but that device;
 * and its MTU leaves room for WireGuard's header. FDB entries still name each peer's underlay
 * address, so the peer tables, the reconciler and plain networks are untouched.
 */
import { InvalidParameterError } from './driverapi.js'
import { optionValue } from './options.js'

/** Network option (Docker's): the network's VXLAN between hosts travels inside WireGuard. */
export const ENCRYPTED_OPTION = 'encrypted'

export interface EncryptionPort {
  /** UDP destination port of encrypted networks' VXLAN (cluster-wide, differs from the plain one). */
  readonly dstPort: number
  /** Bytes WireGuard adds to each underlay packet: 60 over IPv4, 80 when IPv6 must fit. */
  readonly overhead: number
  /**
   * Bring the tunnel device and its steering up (idempotent), before an encrypted sandbox is
   * built; throws, with the reason, when this host cannot encrypt.
   */
  ensure(): Promise<void>
  /** Throws when this host cannot encrypt (no kernel WireGuard, no wireguard-go): refuse early. */
  check(): void
}

/**
 * Whether the options ask for encryption. As in Docker, the key's presence does ("--opt
 * encrypted" or "encrypted=true"); a value that says no is refused rather than silently ignored.
 */
export function encryptedOption (options: Record<string, unknown>): boolean {
  const v = optionValue(options, ENCRYPTED_OPTION)
  if (v === undefined) return false
  if (['', 'true', '1', 'yes', 'on'].includes(v.toLowerCase())) return true
  throw new InvalidParameterError(`option ${ENCRYPTED_OPTION}=${v}: leave the option out for a plain network`)
}
