/**
 * The plugin's HTTP server on its unix socket: one table of `/<Interface>.<Method>` handlers,
 * each with the zod schema of its body. Every reply carries the plugin content type; every
 * failure is `{"Err": "..."}` with the status of the error's kind (400, 404, 409, 500, 503);
 * an unknown path is a 404, which Docker reads as "not implemented". A request is validated
 * whole before its handler runs, so a rejected one changes nothing.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { z } from 'zod'
import type { Logger } from '../../core/index.js'
import { BadRequestError, httpStatusOf } from '../errors.js'
import { describeIssues } from '../router.js'
import {
  closeAfterError, createUnixHttpServer, parseJsonBody, readBodyText, UnixHttpListener, type HttpTimeouts
} from '../unix-http.js'
import type { DockerIpamDriver } from './ipam-driver.js'
import type { DockerNetworkDriver } from './network-driver.js'
import {
  AllocateNetworkRequest, CreateEndpointRequest, CreateNetworkRequest, DiscoveryRequest, EndpointRequest, JoinRequest,
  NetworkRequest, PLUGIN_CONTENT_TYPE, ReleaseAddressRequest, ReleasePoolRequest, RequestAddressRequest,
  RequestPoolRequest,
  type ErrResponse
} from './protocol.js'

interface Handler {
  /** Undefined: the body is not read (Docker sends none). */
  schema: z.ZodType | undefined
  handle: (body: never) => Promise<unknown>
}

function route<S extends z.ZodType> (schema: S, handle: (body: z.infer<S>) => Promise<unknown>): Handler {
  return { schema, handle }
}

function bare (handle: () => Promise<unknown>): Handler {
  return { schema: undefined, handle }
}

/** Every path of both protocols, and what answers it. */
export function pluginRoutes (ipam: DockerIpamDriver, net: DockerNetworkDriver): Map<string, Handler> {
  const empty = {}
  return new Map<string, Handler>([
    ['/Plugin.Activate', bare(async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }))],

    ['/IpamDriver.GetCapabilities', bare(async () => ipam.capabilities())],
    ['/IpamDriver.GetDefaultAddressSpaces', bare(async () => await ipam.addressSpaces())],
    ['/IpamDriver.RequestPool', route(RequestPoolRequest, async b => await ipam.requestPool(b))],
    ['/IpamDriver.ReleasePool', route(ReleasePoolRequest, async b => {
      await ipam.releasePool(b.PoolID); return empty
    })],
    ['/IpamDriver.RequestAddress', route(RequestAddressRequest, async b => await ipam.requestAddress(b))],
    ['/IpamDriver.ReleaseAddress', route(ReleaseAddressRequest, async b => {
      await ipam.releaseAddress(b.PoolID, b.Address); return empty
    })],

    ['/NetworkDriver.GetCapabilities', bare(async () => net.capabilities())],
    ['/NetworkDriver.CreateNetwork', route(CreateNetworkRequest, async b => {
      await net.createNetwork(b); return empty
    })],
    ['/NetworkDriver.DeleteNetwork', route(NetworkRequest, async b => {
      await net.deleteNetwork(b.NetworkID); return empty
    })],
    ['/NetworkDriver.CreateEndpoint', route(CreateEndpointRequest, async b => await net.createEndpoint(b))],
    ['/NetworkDriver.EndpointOperInfo',
      route(EndpointRequest, async b => await net.endpointOperInfo(b.NetworkID, b.EndpointID))],
    ['/NetworkDriver.DeleteEndpoint', route(EndpointRequest, async b => {
      await net.deleteEndpoint(b.NetworkID, b.EndpointID); return empty
    })],
    ['/NetworkDriver.Join', route(JoinRequest, async b => await net.join(b))],
    ['/NetworkDriver.Leave', route(EndpointRequest, async b => {
      await net.leave(b.NetworkID, b.EndpointID); return empty
    })],
    ['/NetworkDriver.DiscoverNew', route(DiscoveryRequest, async () => empty)],
    ['/NetworkDriver.DiscoverDelete', route(DiscoveryRequest, async () => empty)],
    ['/NetworkDriver.ProgramExternalConnectivity', route(EndpointRequest, async b => {
      await net.externalConnectivity(b.NetworkID, b.EndpointID); return empty
    })],
    ['/NetworkDriver.RevokeExternalConnectivity', route(EndpointRequest, async b => {
      await net.externalConnectivity(b.NetworkID, b.EndpointID); return empty
    })],
    ['/NetworkDriver.AllocateNetwork',
      route(AllocateNetworkRequest, async b => await net.allocateNetwork(b.NetworkID))],
    ['/NetworkDriver.FreeNetwork', route(NetworkRequest, async b => {
      await net.freeNetwork(b.NetworkID); return empty
    })]
  ])
}

function reply (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': PLUGIN_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readJson (req: IncomingMessage): Promise<unknown> {
  const text = await readBodyText(req)
  if (text.trim() === '') throw new BadRequestError('empty request body')
  return parseJsonBody(text)
}

export interface PluginServerOptions {
  socketPath: string
  /** Mode of the socket file (default 0660: dockerd runs as root). */
  socketMode?: number
  /** Header and whole-request timeouts (default DEFAULT_HTTP_TIMEOUTS). */
  timeouts?: HttpTimeouts
  logger: Logger
}

export class PluginServer {
  private readonly server: Server
  private readonly unix: UnixHttpListener

  constructor (private readonly routes: Map<string, Handler>, private readonly opts: PluginServerOptions) {
    this.server = createUnixHttpServer((req, res) => {
      this.serve(req, res).catch((err: unknown) => {
        // serve() turns errors into replies; reaching here means the reply itself failed.
        this.opts.logger.error({ err: String(err), url: req.url }, 'docker plugin reply failed')
        res.destroy()
      })
    }, opts.timeouts)
    this.unix = new UnixHttpListener(this.server, { ...opts, name: 'docker plugin' })
  }

  get socketPath (): string { return this.opts.socketPath }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://plugin').pathname
    const started = performance.now()
    const h = this.routes.get(path)
    if (h === undefined) {
      req.resume()
      reply(res, 404, { Err: `ovnet plugin: unknown endpoint ${path}` } satisfies ErrResponse)
      return
    }
    if (req.method !== 'POST') {
      req.resume()
      reply(res, 405, { Err: `ovnet plugin: ${path} takes POST, not ${req.method ?? ''}` } satisfies ErrResponse)
      return
    }
    try {
      let body: unknown
      if (h.schema === undefined) {
        req.resume()
      } else {
        const parsed = h.schema.safeParse(await readJson(req))
        if (!parsed.success) throw new BadRequestError(describeIssues(parsed.error))
        body = parsed.data
      }
      const out = await h.handle(body as never)
      reply(res, 200, out)
      this.opts.logger.debug({ path, ms: Math.round(performance.now() - started) }, 'docker plugin call')
    } catch (err) {
      const status = httpStatusOf(err)
      const message = err instanceof Error ? err.message : String(err)
      closeAfterError(res, err)
      reply(res, status, { Err: message } satisfies ErrResponse)
      this.opts.logger.info({ path, status, err: message }, 'docker plugin call failed')
    }
  }

  /** Claim the socket path (a stale file is removed, a live listener refused) and listen. */
  async listen (): Promise<void> { await this.unix.listen() }

  /** Stop accepting, let in-flight calls finish (cut after 2 s), remove the socket file. */
  async close (): Promise<void> { await this.unix.close() }
}
