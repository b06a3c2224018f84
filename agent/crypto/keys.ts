/**
 * This host's WireGuard key pair (Curve25519), made with Node's crypto at first start and kept in
 * the data dir (`wireguard.key`, mode 0600, the private key in base64 as `wg genkey` writes it).
 * A restart reads it back, so peers keep the public key they hold. Rotation writes a new one
 * crash-safely (temp file + rename): after a crash the host has the old key or the new one.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { chmod, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { validWireguardKey } from '../../proto/index.js'
import { AtomicFile } from '../atomic-file.js'

export const WIREGUARD_KEY_FILE = 'wireguard.key'

export interface KeyPair { privateKey: string, publicKey: string }

// PKCS#8 / SPKI DER prefixes of an X25519 key: the raw 32 bytes follow them.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')

export class KeyFileError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyFileError'
  }
}

/** The public key of a base64 private key. */
export function publicKeyOf (privateKey: string): string {
  const raw = Buffer.from(privateKey, 'base64')
  if (raw.length !== 32 || !validWireguardKey(privateKey)) {
    throw new KeyFileError('a WireGuard private key is 32 bytes in base64')
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' })
  return spki.subarray(SPKI_PREFIX.length).toString('base64')
}

/** A fresh key pair (`wg genkey | wg pubkey`). */
export function generateKeyPair (): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519')
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  const priv = der.subarray(PKCS8_PREFIX.length).toString('base64')
  return { privateKey: priv, publicKey: publicKeyOf(priv) }
}

/** The key file of a data dir: read at start, created when absent, replaced on rotation. */
export class KeyStore {
  private readonly file: AtomicFile

  constructor (dataDir: string) {
    this.file = new AtomicFile(join(dataDir, WIREGUARD_KEY_FILE))
  }

  get path (): string { return this.file.path }

  /** The stored pair, or a new one written first. A corrupt file is an error, never replaced. */
  async loadOrCreate (): Promise<KeyPair> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      const pair = generateKeyPair()
      await this.save(pair)
      return pair
    }
    const priv = text.trim()
    let pub: string
    try {
      pub = publicKeyOf(priv)
    } catch {
      throw new KeyFileError(`corrupt WireGuard key file ${this.path} (move it away to make a new key)`)
    }
    // A key others could read is no secret: keep it private (an operator's copy may have lost it).
    if (((await stat(this.path)).mode & 0o077) !== 0) await chmod(this.path, 0o600)
    return { privateKey: priv, publicKey: pub }
  }

  async save (pair: KeyPair): Promise<void> {
    await this.file.write(`${pair.privateKey}\n`)
    await chmod(this.path, 0o600)
  }
}
