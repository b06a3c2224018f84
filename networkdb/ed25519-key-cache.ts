/**
 * @libp2p/crypto 5 (Node build) verifies every Ed25519 signature by first importing the 32-byte
 * public key into a node:crypto KeyObject from a JWK (`createPublicKey({ format: 'jwk' })`, a
 * base64url encoding and a JSON-shaped parse), and signs every message by importing the private
 * key the same way. Gossipsub verifies each received message against the originator's key, which
 * it rebuilds from the message's `from` bytes: a new key object per message, so nothing upstream
 * can keep the KeyObject. The import was ~1/4 of the agents' Ed25519 time (1.2 % of their CPU) in
 * the 20-host profile (docs/BENCHMARKS.md).
 *
 * The patch keeps the imported KeyObjects: public keys in a bounded LRU map keyed by the raw key
 * bytes (a cluster has one key per member; the bound keeps a hostile sender of many keys from
 * growing it), private keys in a WeakMap on the key object (the node's own key lives as long as
 * the node). The verification itself is node:crypto's `verify` with the same key, message and
 * signature as before, so a bad signature, or a signature by another key, is refused as before;
 * input that @libp2p/crypto rejects with an error (a signature that is not 64 bytes) goes to its
 * own code and throws the same error. Loaded from networkdb/adapters.ts before a node is created.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'

const PATCHED = Symbol.for('ovnet.ed25519.key-cache')
const PUBLIC_KEY_BYTES = 32
const PRIVATE_KEY_BYTES = 64
const SIGNATURE_BYTES = 64
/** Public keys kept; a cluster has one per member (and gossip carries only members' messages). */
export const PUBLIC_KEY_CACHE_SIZE = 1024

/** DER SubjectPublicKeyInfo of an Ed25519 key without its 32 key bytes (RFC 8410). */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

interface MaybeAbortable { signal?: AbortSignal }
type Data = Uint8Array | { subarray: () => Uint8Array }
interface PublicKeyLike { raw: Uint8Array, verify: (data: Data, sig: Uint8Array, options?: MaybeAbortable) => unknown }
interface PrivateKeyLike { raw: Uint8Array, sign: (data: Data, options?: MaybeAbortable) => unknown }

const publicKeys = new Map<string, KeyObject>()
const privateKeys = new WeakMap<object, KeyObject>()
let importsCount = 0

/** KeyObjects imported by the patched methods since start (tests: shows the cache hits). */
export function ed25519KeyImports (): number { return importsCount }

function publicKeyObject (raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1')
  const hit = publicKeys.get(id)
  if (hit !== undefined) {
    // most recently used last: Map iteration order is insertion order
    publicKeys.delete(id)
    publicKeys.set(id, hit)
    return hit
  }
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })
  importsCount++
  publicKeys.set(id, key)
  if (publicKeys.size > PUBLIC_KEY_CACHE_SIZE) publicKeys.delete(publicKeys.keys().next().value!)
  return key
}

function privateKeyObject (owner: object, raw: Uint8Array): KeyObject {
  const hit = privateKeys.get(owner)
  if (hit !== undefined) return hit
  const b64 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64url')
  const key = createPrivateKey({
    format: 'jwk',
    key: { crv: 'Ed25519', kty: 'OKP', d: b64(raw.subarray(0, 32)), x: b64(raw.subarray(32)) }
  })
  importsCount++
  privateKeys.set(owner, key)
  return key
}

const bytesOf = (data: Data): Uint8Array =>
  data instanceof Uint8Array ? data : data.subarray()

/** A throw-away Ed25519 key of @libp2p/crypto's classes, to reach their prototypes. */
function sampleKey (): ReturnType<typeof privateKeyFromRaw> {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  return privateKeyFromRaw(Buffer.concat([Buffer.from(jwk.d!, 'base64url'), Buffer.from(jwk.x!, 'base64url')]))
}

export function patchEd25519KeyCache (): void {
  const sample = sampleKey()
  const privProto = Object.getPrototypeOf(sample) as PrivateKeyLike & { [PATCHED]?: boolean }
  const pubProto = Object.getPrototypeOf(sample.publicKey) as PublicKeyLike & { [PATCHED]?: boolean }
  if (pubProto[PATCHED] !== true) {
    const original = pubProto.verify
    pubProto.verify = function (this: PublicKeyLike, data, sig, options) {
      if (!(sig instanceof Uint8Array) || sig.byteLength !== SIGNATURE_BYTES ||
          this.raw.byteLength !== PUBLIC_KEY_BYTES) {
        return original.call(this, data, sig, options) // @libp2p/crypto's own errors
      }
      options?.signal?.throwIfAborted()
      return verify(null, bytesOf(data), publicKeyObject(this.raw), sig)
    }
    pubProto[PATCHED] = true
  }
  if (privProto[PATCHED] !== true) {
    const original = privProto.sign
    privProto.sign = function (this: PrivateKeyLike, data, options) {
      if (this.raw.byteLength !== PRIVATE_KEY_BYTES) return original.call(this, data, options)
      options?.signal?.throwIfAborted()
      return sign(null, bytesOf(data), privateKeyObject(this, this.raw))
    }
    privProto[PATCHED] = true
  }
}

patchEd25519KeyCache()
