/**
 * The node identity: an Ed25519 libp2p key kept in `<dataDir>/node.key`. The peer id derived from
 * it is the node id in NetworkDB (entry owner, member id), so it must survive restarts: a restarted
 * agent that came back under a new id would orphan every entry it owned until they were purged.
 *
 * The file holds the key in libp2p's protobuf encoding (type + key bytes), mode 0600.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE = 'node.key'
/** An Ed25519 key in protobuf form is 68 bytes; anything this large is not a key file. */
const MAX_IDENTITY_FILE_BYTES = 16 * 1024

export class IdentityError extends Error {
  constructor (readonly path: string, message: string) {
    super(`node identity ${path}: ${message}`)
    this.name = 'IdentityError'
  }
}

/**
 * Load the node's key from `dataDir`, creating it (and the directory, mode 0700) on first start.
 * A file that exists but does not decode is an error, never silently replaced: a new key would
 * change the node id, which the operator must decide to do (by deleting the file).
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<PrivateKey> {
  const path = join(dataDir, IDENTITY_FILE)
  const existing = await readIdentity(path)
  if (existing !== undefined) return existing
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const key = await generateKeyPair('Ed25519')
  // Written to a temporary file, synced, then hard-linked into place: link() fails with EEXIST
  // instead of replacing, so if another process created the key meanwhile we adopt its key and
  // both agree on one id. A crash leaves either no node.key or a complete one, never a torn file.
  const tmp = join(dataDir, `.${IDENTITY_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.chmod(0o600)
    await fh.writeFile(privateKeyToProtobuf(key))
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const raced = await readIdentity(path)
    if (raced === undefined) throw new IdentityError(path, 'vanished while being created')
    return raced
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await syncDir(dataDir)
  return key
}

/** The peer id string a key stands for (the NetworkDB node id). */
export function nodeIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

async function readIdentity (path: string): Promise<PrivateKey | undefined> {
  let raw: Buffer
  try {
    raw = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (raw.byteLength === 0 || raw.byteLength > MAX_IDENTITY_FILE_BYTES) {
    throw new IdentityError(path, `corrupt key file (${raw.byteLength} bytes); delete it to give this node a new id`)
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(raw)
  } catch (err) {
    throw new IdentityError(path, `corrupt key file (${(err as Error).message}); delete it to give this node a new id`)
  }
  if (key.type !== 'Ed25519') throw new IdentityError(path, `expected an Ed25519 key, found ${key.type}`)
  return key
}

/** fsync the directory so the new directory entry itself survives a power loss. */
async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
