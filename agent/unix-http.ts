/**
 * HTTP on one of the agent's unix sockets, the parts the control API and the Docker plugin share:
 * reading a request body under one size limit, and the socket's life (claim the path, listen, set
 * the mode; close: drain, cut lingering connections, remove the file).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import { chown } from 'node:fs/promises'
import type { Logger } from '../core/index.js'
import { BadRequestError, kindOf, PayloadTooLargeError } from './errors.js'
import { claimSocketPath, releaseSocketPath, setSocketMode } from './unix-socket.js'

/** The largest request body either server reads. */
export const MAX_BODY_BYTES = 1024 * 1024

/** Socket mode unless configured: root and the socket's group may connect. */
export const DEFAULT_SOCKET_MODE = 0o660

/** In-flight replies get this long after a close before the remaining connections are cut. */
const CLOSE_GRACE_MS = 2000

/**
 * How long a client may take (a stalled or slow client must not pin a connection, or the agent):
 * to send its headers, and its whole request (headers and body). Node answers 408 and closes.
 */
export interface HttpTimeouts { headersMs: number, requestMs: number }

export const DEFAULT_HTTP_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({ headersMs: 10_000, requestMs: 30_000 })

/** Connections either server holds at once (a CLI call, an events stream, dockerd: a handful). */
export const MAX_CONNECTIONS = 256

/** An HTTP server with the request timeouts enforced (checked every quarter of the shorter one). */
export function createUnixHttpServer (handler: RequestListener, t: HttpTimeouts = DEFAULT_HTTP_TIMEOUTS): Server {
  const server = createServer({
    headersTimeout: t.headersMs,
    requestTimeout: t.requestMs,
    connectionsCheckingInterval: Math.max(50, Math.min(t.headersMs, t.requestMs) / 4)
  }, handler)
  server.maxConnections = MAX_CONNECTIONS
  return server
}

/**
 * The whole body as UTF-8. A body over MAX_BODY_BYTES (by its Content-Length, before reading, or
 * as it arrives) is a PayloadTooLargeError (413).
 */
export async function readBodyText (req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) {
    throw new PayloadTooLargeError(`request body of ${declared} bytes is larger than ${MAX_BODY_BYTES} bytes`)
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError(`request body larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Before an error reply: a body left unread (too large) is not drained; the connection closes after the reply. */
export function closeAfterError (res: ServerResponse, err: unknown): void {
  if (kindOf(err) === 'tooLarge' && !res.headersSent) res.setHeader('connection', 'close')
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
  /** Group id the socket file is given (its group may drive the agent); undefined: the agent's group. */
  socketGroup?: number
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
    // group first, then the mode: the file is never group-accessible with the wrong group
    if (this.opts.socketGroup !== undefined) await chown(path, -1, this.opts.socketGroup)
    await setSocketMode(path, this.opts.socketMode ?? DEFAULT_SOCKET_MODE)
    const mode = (this.opts.socketMode ?? DEFAULT_SOCKET_MODE).toString(8)
    this.opts.logger.info({ socket: path, mode, group: this.opts.socketGroup }, `${this.opts.name} listening`)
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
