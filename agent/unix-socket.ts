/**
 * The agent's unix socket file: claim it at start (a stale file from a crash is removed; a live
 * agent on it is a refusal, not a takeover) and set its mode.
 */
import { connect } from 'node:net'
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Linux `sockaddr_un.sun_path` holds 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107

export class SocketInUseError extends Error {
  constructor (readonly path: string) {
    super(`another ovnet agent is already listening on ${path}`)
    this.name = 'SocketInUseError'
  }
}

/** Resolves true when something accepts a connection on `path`. */
export async function socketAnswers (path: string, timeoutMs = 1000): Promise<boolean> {
  return await new Promise<boolean>(resolve => {
    const sock = connect({ path })
    const done = (answered: boolean): void => { sock.destroy(); resolve(answered) }
    sock.setTimeout(timeoutMs, () => { done(true) }) // accepted but silent: still someone's socket
    sock.once('connect', () => { done(true) })
    sock.once('error', () => { done(false) })
  })
}

/**
 * Make `path` free to listen on: create its directory, remove a stale socket file, and refuse if
 * the file is not a socket (never delete a user's file) or if an agent answers on it.
 */
export async function claimSocketPath (path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`)
  }
  // 0755: clients need to traverse it; access control is the socket's own mode.
  await mkdir(dirname(path), { recursive: true, mode: 0o755 })
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket; refusing to remove it`)
  if (await socketAnswers(path)) throw new SocketInUseError(path)
  await unlink(path)
}

/**
 * Set the socket's mode once it exists. Until then it has the umask's mode, which with the usual
 * 022 denies connect (needs write) to group and others, so the short window is never wider.
 */
export async function setSocketMode (path: string, mode: number): Promise<void> {
  await chmod(path, mode)
}

/** Remove our socket file at shutdown; a missing file is fine. */
export async function releaseSocketPath (path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
