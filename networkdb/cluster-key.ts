/**
 * The cluster key file: a libp2p private-network (pnet) swarm key shared by every agent of one
 * cluster. A node without the same key cannot complete a connection (pnet encrypts the whole TCP
 * stream with it before noise even starts), so it can neither join nor read any gossip.
 *
 * Format (the one `@libp2p/pnet`'s `generateKey` writes and go-ipfs uses):
 *
 *     /key/swarm/psk/1.0.0/
 *     /base16/
 *     <64 hex digits: 32 random bytes>
 *
 * pnet's own parser accepts anything whose third line decodes to 32 bytes; we check all three
 * lines so that a wrong file (a TLS key, an empty file) fails here with a clear message rather
 * than deep inside a dial.
 */
import { constants } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

const TAG = '/key/swarm/psk/1.0.0/'
const CODEC = '/base16/'
/** pnet's key is 32 bytes (XSalsa20), so 64 hex digits. */
const KEY_HEX_LENGTH = 64
/** The exact length of a generated key file: both header lines, their newlines and the key. */
const KEY_FILE_BYTES = TAG.length + 1 + CODEC.length + 1 + KEY_HEX_LENGTH
/** Refuse to read anything larger: a key file is ~100 bytes; this is a wrong path. */
const MAX_KEY_FILE_BYTES = 4096

export type ClusterKeyErrorReason = 'missing' | 'exists' | 'format' | 'length' | 'mode'

export class ClusterKeyError extends Error {
  constructor (readonly reason: ClusterKeyErrorReason, readonly path: string, message: string) {
    super(`cluster key ${path}: ${message}`)
    this.name = 'ClusterKeyError'
  }
}

/**
 * Write a new random cluster key to `path` (mode 0600). Never overwrites: replacing the key of a
 * running cluster silently partitions it, so an existing file is an error the operator resolves.
 */
export async function generateClusterKey (path: string): Promise<void> {
  const key = new Uint8Array(KEY_FILE_BYTES)
  generateKey(key)
  let fh
  try {
    // O_EXCL: atomic "create only if absent", so two concurrent generators cannot both win.
    fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ClusterKeyError('exists', path, 'file already exists; refusing to overwrite a cluster key')
    }
    throw err
  }
  try {
    await fh.chmod(0o600) // the mode given to open() is reduced by umask, never widened; be explicit
    await fh.writeFile(key)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Read and validate a cluster key file. Returns the canonical key file bytes, which is what
 * `preSharedKey({ psk })` expects (pnet parses the whole file, not the raw 32 bytes).
 */
export async function loadClusterKey (path: string): Promise<Uint8Array> {
  let raw: Buffer
  let mode: number
  try {
    const fh = await open(path, 'r')
    try {
      const st = await fh.stat()
      if (st.size > MAX_KEY_FILE_BYTES) {
        throw new ClusterKeyError('format', path, `file of ${st.size} bytes is not a swarm key`)
      }
      mode = st.mode & 0o777
      raw = await readFile(fh)
    } finally {
      await fh.close()
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ClusterKeyError('missing', path,
        'file not found (every node of a cluster needs a copy of the same key file)')
    }
    throw err
  }
  const key = parseClusterKey(raw.toString('utf8'), path)
  // As ssh does with a private key: whoever can read the key can join the cluster and write its
  // tables, so a key readable (or writable) by group or others is refused, not used.
  if ((mode & 0o077) !== 0) {
    throw new ClusterKeyError('mode', path,
      `permissions 0${mode.toString(8)} are too open: the key must be accessible by its owner only (chmod 600 ${path})`)
  }
  return key
}

/** Validate key file text; exported for callers that hold the key in memory (config, tests). */
export function parseClusterKey (text: string, path = '<memory>'): Uint8Array {
  // Tolerate CRLF and trailing blank lines (hand-copied files), nothing else.
  const lines = text.split(/\r\n|\n|\r/)
  while (lines.length > 0 && lines[lines.length - 1]?.trim() === '') lines.pop()
  if (lines.length !== 3) {
    throw new ClusterKeyError('format', path, `expected 3 lines (${TAG}, ${CODEC}, key), found ${lines.length}`)
  }
  const [tag, codec, hex] = lines.map(l => l.trim()) as [string, string, string]
  if (tag !== TAG) throw new ClusterKeyError('format', path, `first line must be ${TAG}`)
  if (codec !== CODEC) {
    throw new ClusterKeyError('format', path, `second line must be ${CODEC} (only base16 keys are supported)`)
  }
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new ClusterKeyError('format', path, 'key line is not hexadecimal')
  if (hex.length !== KEY_HEX_LENGTH) {
    throw new ClusterKeyError('length', path,
      `key must be ${KEY_HEX_LENGTH / 2} bytes (${KEY_HEX_LENGTH} hex digits), found ${hex.length} digits`)
  }
  // pnet decodes lower-case base16 only; emit the canonical form.
  return new TextEncoder().encode(`${TAG}\n${CODEC}\n${hex.toLowerCase()}`)
}
