/**
 * The control API server: HTTP+JSON on the agent's unix socket. Routes are declared once, here;
 * request bodies are validated against the zod schemas of api-types.ts before the controller
 * (`ControlHandlers`) sees them, and every controller error becomes `{error, type}` with the
 * status of its kind.
 *
 *   GET    /v1/ping                        → PingResponse
 *   GET    /v1/cluster/members             → MemberView[]
 *   POST   /v1/cluster/rotate-key          → RotateKeyResponse (a new WireGuard key pair)
 *   GET    /v1/cluster/encryption          → EncryptionStatusView (this host's WireGuard)
 *   POST   /v1/networks                    NetworkCreateRequest → 201 NetworkCreateResponse
 *   GET    /v1/networks                    → NetworkSummary[]
 *   GET    /v1/networks/:network?verbose=1 → NetworkInspect
 *   DELETE /v1/networks/:network           → 204
 *   POST   /v1/networks/:network/attach    AttachRequest → AttachResponse
 *   POST   /v1/networks/:network/detach    DetachRequest → 204
 *   GET    /v1/networks/:network/attachments → AttachmentView[] (this host's, with CNI keys)
 *   GET    /v1/ipam                        → IpamStatusView
 *   POST   /v1/ipam/reclaim                IpamReclaimRequest → IpamReclaimResponse
 *   GET    /v1/events                      → newline-delimited ControlEvent, until either side closes
 *   GET    /v1/diagnostics                 → DiagnosticsView (NetworkDB's digests, for checks)
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Logger } from '../core/index.js'
import {
  AttachRequest, DetachRequest, IpamReclaimRequest, NetworkCreateRequest,
  type ControlEvent, type ControlHandlers, type PingResponse
} from './api-types.js'
import { NotImplementedError } from './errors.js'
import { Router, sendError } from './router.js'
import { createUnixHttpServer, UnixHttpListener, type HttpTimeouts } from './unix-http.js'

/** An events client this far behind is cut off rather than buffered without bound. */
const MAX_EVENT_BACKLOG_BYTES = 4 * 1024 * 1024

export interface ApiServerOptions {
  socketPath: string
  /** Mode of the socket file (default 0660: root and the socket's group may drive the agent). */
  socketMode?: number
  /** Group id of the socket file (config `socket-group`); undefined: the agent's own group. */
  socketGroup?: number
  /** Header and whole-request timeouts (default DEFAULT_HTTP_TIMEOUTS). */
  timeouts?: HttpTimeouts
  logger: Logger
  /** What /v1/ping answers: lets `ovnet version` show the agent's version and a client tell agents apart. */
  info: PingResponse
}

export function buildRouter (handlers: ControlHandlers, info: PingResponse, streams: Set<ServerResponse>): Router {
  const verbose = (q: URLSearchParams): boolean => ['1', 'true', 'yes'].includes(q.get('verbose') ?? '')
  return new Router()
    .json({ method: 'GET', path: '/v1/ping', handle: async () => info })
    .json({ method: 'GET', path: '/v1/cluster/members', handle: async () => await handlers.members() })
    .json({
      method: 'POST',
      path: '/v1/networks',
      body: NetworkCreateRequest,
      status: 201,
      handle: async ({ body }) => await handlers.createNetwork(body)
    })
    .json({ method: 'GET', path: '/v1/networks', handle: async () => await handlers.listNetworks() })
    .json({
      method: 'GET',
      path: '/v1/networks/:network',
      handle: async ({ params, query }) => await handlers.inspectNetwork(params.network, verbose(query))
    })
    .json({
      method: 'DELETE',
      path: '/v1/networks/:network',
      handle: async ({ params }) => { await handlers.removeNetwork(params.network) }
    })
    .json({
      method: 'POST',
      path: '/v1/networks/:network/attach',
      body: AttachRequest,
      handle: async ({ params, body }) => await handlers.attach(params.network, body)
    })
    .json({
      method: 'POST',
      path: '/v1/networks/:network/detach',
      body: DetachRequest,
      handle: async ({ params, body }) => { await handlers.detach(params.network, body) }
    })
    .json({
      method: 'GET',
      path: '/v1/networks/:network/attachments',
      handle: async ({ params }) => {
        if (handlers.attachments === undefined) {
          throw new NotImplementedError('attachments are not available from this agent')
        }
        return await handlers.attachments(params.network)
      }
    })
    .json({
      method: 'POST',
      path: '/v1/cluster/rotate-key',
      handle: async () => {
        if (handlers.rotateKey === undefined) {
          throw new NotImplementedError('key rotation is not available from this agent')
        }
        return await handlers.rotateKey()
      }
    })
    .json({
      method: 'GET',
      path: '/v1/cluster/encryption',
      handle: async () => {
        if (handlers.encryption === undefined) {
          throw new NotImplementedError('encryption is not available from this agent')
        }
        return await handlers.encryption()
      }
    })
    .json({ method: 'GET', path: '/v1/ipam', handle: async () => await handlers.ipamStatus() })
    .json({
      method: 'POST',
      path: '/v1/ipam/reclaim',
      body: IpamReclaimRequest,
      handle: async ({ body }) => await handlers.ipamReclaim(body.Node)
    })
    .json({
      method: 'GET',
      path: '/v1/diagnostics',
      handle: async () => {
        if (handlers.diagnostics === undefined) {
          throw new NotImplementedError('diagnostics are not available from this agent')
        }
        return await handlers.diagnostics()
      }
    })
    .streaming({
      method: 'GET',
      path: '/v1/events',
      stream: (_ctx, _req, res) => {
        let unsubscribe: () => void
        try {
          unsubscribe = handlers.subscribeEvents((ev: ControlEvent) => {
            if (res.writableLength > MAX_EVENT_BACKLOG_BYTES) { res.destroy(); return }
            res.write(JSON.stringify(ev) + '\n')
          })
        } catch (err) {
          sendError(res, err)
          return
        }
        streams.add(res)
        res.once('close', () => { streams.delete(res); unsubscribe() })
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
        // Send the headers now: the client learns the stream is open before the first event.
        res.flushHeaders()
      }
    })
}

export class ApiServer {
  private readonly server: Server
  private readonly router: Router
  private readonly streams = new Set<ServerResponse>()
  private readonly unix: UnixHttpListener

  constructor (handlers: ControlHandlers, private readonly opts: ApiServerOptions) {
    this.router = buildRouter(handlers, opts.info, this.streams)
    this.server = createUnixHttpServer((req, res) => { this.onRequest(req, res) }, opts.timeouts)
    this.unix = new UnixHttpListener(this.server, { ...opts, name: 'control API' })
  }

  get socketPath (): string { return this.opts.socketPath }

  private onRequest (req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    res.once('finish', () => {
      this.opts.logger.debug({
        method: req.method, url: req.url, status: res.statusCode, ms: Math.round(performance.now() - started)
      }, 'api request')
    })
    this.router.dispatch(req, res).catch((err: unknown) => {
      // dispatch() turns errors into replies; reaching here means the reply itself failed.
      this.opts.logger.error({ err, url: req.url }, 'api reply failed')
      res.destroy()
    })
  }

  /** Claim the socket path (removing a stale file, refusing a live agent's) and listen. */
  async listen (): Promise<void> { await this.unix.listen() }

  /** Stop accepting, end event streams, drop idle keep-alive connections, remove the socket file. */
  async close (): Promise<void> {
    await this.unix.close(() => { for (const res of this.streams) res.end() })
  }
}
