/**
 * HTTP on one of the agent's unix sockets, the parts the control API and the Docker plugin share:
 * reading a request body under one size limit, and the socket's life (claim the path, listen, set
 * the mode; close: drain, cut lingering connections, remove the file).
 */
import type { IncomingMessage, Server } from 'node:http'
import type { Logger } from '../core/index.js'
import { BadRequestError } from './errors.js'
import { claimSocketPath, releaseSocketPath, setSocketMode } from './unix-socket.js'

/** The largest request body either server reads. */
export const MAX_BODY_BYTES = 1024 * 1024

/** Socket mode unless configured: root and the socket's group may connect. */
export const DEFAULT_SOCKET_MODE = 0o660

/** In-flight replies get this long after a close before the remaining connections are cut. */
const CLOSE_GRACE_MS = 2000

/** The whole body as UTF-8; a body over MAX_BODY_BYTES is a BadRequestError. */
export async function readBodyText (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new BadRequestError(`request body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** JSON.parse, with a syntax error as a BadRequestError ("invalid JSON body: …"). */
export function parseJsonBody (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new BadRequestError(`invalid JSON body: ${(err as Error).message}`)
  }
}

export interface UnixHttpOptions {
  socketPath: string
  /** Mode of the socket file (default 0660). */
  socketMode?: number
  logger: Logger
  /** What listens, for the log ("control API"). */
  name: string
}

/** An HTTP server's life on a unix socket path: listen once, close once. */
export class UnixHttpListener {
  private listening = false

  constructor (private readonly server: Server, private readonly opts: UnixHttpOptions) {}

  /**
   * Claim the path (a stale socket file is removed; a live listener or a file that is not a
   * socket is a refusal), listen on it, then set its mode.
   */
  async listen (): Promise<void> {
    const path = this.opts.socketPath
    await claimSocketPath(path)
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => { reject(err) }
      this.server.once('error', onError)
      this.server.listen(path, () => { this.server.off('error', onError); resolve() })
    })
    this.listening = true
    await setSocketMode(path, this.opts.socketMode ?? DEFAULT_SOCKET_MODE)
    this.opts.logger.info({ socket: path }, `${this.opts.name} listening`)
  }

  /**
   * Stop accepting (after `beforeClose`, e.g. ending long-lived replies) and drop idle keep-alive
   * connections; a client holding one that turns idle only later (curl, a script) or a slow reply
   * is cut after a grace, so shutdown cannot hang. Then the socket file goes. Not listening: nothing.
   */
  async close (beforeClose?: () => void): Promise<void> {
    if (!this.listening) return
    this.listening = false
    beforeClose?.()
    const closed = new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
    this.server.closeIdleConnections()
    const force = setTimeout(() => { this.server.closeAllConnections() }, CLOSE_GRACE_MS)
    await closed
    clearTimeout(force)
    await releaseSocketPath(this.opts.socketPath)
  }
}
