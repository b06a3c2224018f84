/**
 * Client of the control API over the agent's unix socket; the CLI's only way to the agent.
 * Non-2xx replies become `ApiError` carrying the agent's `{error, type}`; a socket nobody listens
 * on becomes `AgentUnavailableError`, so the CLI can say "is the agent running?" instead of
 * printing ECONNREFUSED.
 */
import { request, type IncomingMessage } from 'node:http'
import { createInterface } from 'node:readline'
import type {
  AttachmentView, AttachRequest, AttachResponse, ControlEvent, DetachRequest, DiagnosticsView, IpamReclaimResponse,
  IpamStatusView,
  EncryptionStatusView, MemberView, NetworkCreateRequest, RotateKeyResponse, NetworkCreateResponse, NetworkInspect,
  NetworkSummary, PingResponse
} from './api-types.js'

export const DEFAULT_SOCKET = '/run/ovnet/ovnet.sock'

/** Attach and network create program the kernel and wait on cluster writes; allow for it. */
const DEFAULT_TIMEOUT_MS = 60_000

/** An error reply of the agent. `message` is libnetwork's text, `type` the error class name. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly type: string, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Nothing answers on the socket (missing, refused) or we may not use it. */
export class AgentUnavailableError extends Error {
  constructor (readonly socketPath: string, readonly code: string | undefined, message: string) {
    super(message)
    this.name = 'AgentUnavailableError'
  }
}

// Not ECONNRESET: an agent that dies mid-request did run, and "is it running?" would mislead.
const UNAVAILABLE_CODES = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EACCES', 'EPERM'])

function unavailable (socketPath: string, err: NodeJS.ErrnoException): AgentUnavailableError {
  const why = err.code === 'EACCES' || err.code === 'EPERM'
    ? `permission denied on ${socketPath} (run as root or as a member of the socket's group)`
    : `cannot connect to the ovnet agent at ${socketPath}: is the agent running?`
  return new AgentUnavailableError(socketPath, err.code, why)
}

export interface ApiClientOptions {
  timeoutMs?: number
}

export class ApiClient {
  private readonly timeoutMs: number

  constructor (readonly socketPath: string = DEFAULT_SOCKET, opts: ApiClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  ping (): Promise<PingResponse> { return this.call('GET', '/v1/ping') }
  members (): Promise<MemberView[]> { return this.call('GET', '/v1/cluster/members') }
  rotateKey (): Promise<RotateKeyResponse> { return this.call('POST', '/v1/cluster/rotate-key') }
  encryption (): Promise<EncryptionStatusView> { return this.call('GET', '/v1/cluster/encryption') }
  createNetwork (req: NetworkCreateRequest): Promise<NetworkCreateResponse> {
    return this.call('POST', '/v1/networks', req)
  }
  listNetworks (): Promise<NetworkSummary[]> { return this.call('GET', '/v1/networks') }

  inspectNetwork (network: string, verbose = false): Promise<NetworkInspect> {
    return this.call('GET', `/v1/networks/${encodeURIComponent(network)}${verbose ? '?verbose=1' : ''}`)
  }

  async removeNetwork (network: string): Promise<void> {
    await this.call('DELETE', `/v1/networks/${encodeURIComponent(network)}`)
  }

  attach (network: string, req: AttachRequest): Promise<AttachResponse> {
    return this.call('POST', `/v1/networks/${encodeURIComponent(network)}/attach`, req)
  }

  async detach (network: string, req: DetachRequest): Promise<void> {
    await this.call('POST', `/v1/networks/${encodeURIComponent(network)}/detach`, req)
  }

  attachments (network: string): Promise<AttachmentView[]> {
    return this.call('GET', `/v1/networks/${encodeURIComponent(network)}/attachments`)
  }

  ipamStatus (): Promise<IpamStatusView> { return this.call('GET', '/v1/ipam') }
  ipamReclaim (node: string): Promise<IpamReclaimResponse> {
    return this.call('POST', '/v1/ipam/reclaim', { Node: node })
  }
  diagnostics (): Promise<DiagnosticsView> { return this.call('GET', '/v1/diagnostics') }

  /**
   * Stream events until `signal` aborts (the iterator then ends) or the agent closes the stream
   * (the iterator ends too; the caller decides whether that is an error).
   */
  async * events (signal?: AbortSignal): AsyncGenerator<ControlEvent> {
    const res = await this.open('GET', '/v1/events', undefined, { signal, timeout: false })
    if (res.statusCode !== 200) throw await errorOf(res)
    const lines = createInterface({ input: res, crlfDelay: Infinity })
    try {
      for await (const line of lines) {
        if (line.trim() === '') continue
        yield JSON.parse(line) as ControlEvent
      }
    } catch (err) {
      if (signal?.aborted === true) return
      throw err
    } finally {
      lines.close()
      res.destroy()
    }
  }

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body, { timeout: true })
    if (res.statusCode === undefined || res.statusCode >= 300) throw await errorOf(res)
    const text = await readAll(res)
    return (text === '' ? undefined : JSON.parse(text)) as T
  }

  private async open (
    method: string, path: string, body: unknown, o: { signal?: AbortSignal | undefined, timeout: boolean }
  ): Promise<IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        path,
        method,
        // One-shot CLI calls: no keep-alive pool holding the process open.
        agent: false,
        headers: payload === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        ...(o.signal === undefined ? {} : { signal: o.signal })
      }, resolve)
      if (o.timeout) {
        req.setTimeout(this.timeoutMs, () => {
          req.destroy(new Error(`the ovnet agent did not answer ${method} ${path} within ${this.timeoutMs / 1000} s`))
        })
      }
      req.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code !== undefined && UNAVAILABLE_CODES.has(err.code) ? unavailable(this.socketPath, err) : err)
      })
      req.end(payload)
    })
  }
}

async function readAll (res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

async function errorOf (res: IncomingMessage): Promise<ApiError> {
  const status = res.statusCode ?? 0
  const text = await readAll(res)
  try {
    const body = JSON.parse(text) as { error?: unknown, type?: unknown }
    if (typeof body.error === 'string') {
      return new ApiError(status, typeof body.type === 'string' ? body.type : 'Error', body.error)
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  return new ApiError(status, 'Error', text.trim() === '' ? `agent replied ${status}` : text.trim())
}
