/**
 * A small typed HTTP router for the control API: routes are `METHOD /path/:param` patterns whose
 * parameter names become typed fields, an optional zod schema validates the JSON body, and a
 * handler's return value becomes the reply (undefined → 204). Every thrown error becomes one JSON
 * error body with the status its `kind` maps to (agent/errors.ts). Streaming routes take the raw
 * response instead.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { z } from 'zod'
import { BadRequestError, errorBodyOf, httpStatusOf, type ApiErrorBody } from './errors.js'
import { closeAfterError, parseJsonBody, readBodyText } from './unix-http.js'

/** `'/v1/networks/:id/attach'` → `{ id: string }`. */
export type PathParams<P extends string> =
  P extends `${string}:${infer Name}/${infer Rest}` ? { [K in Name]: string } & PathParams<`/${Rest}`>
    : P extends `${string}:${infer Name}` ? { [K in Name]: string }
      : Record<never, string>

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface RouteContext<P, B> {
  params: P
  query: URLSearchParams
  body: B
}

export interface JsonRoute<P extends string, S extends z.ZodType | undefined> {
  method: Method
  path: P
  body?: S
  /** Status of a reply with a body (default 200). */
  status?: number
  handle: (ctx: RouteContext<PathParams<P>, S extends z.ZodType ? z.infer<S> : undefined>) => Promise<unknown>
}

export interface StreamRoute<P extends string> {
  method: Method
  path: P
  /** Owns the response from here on (headers, body, end). */
  stream: (ctx: RouteContext<PathParams<P>, undefined>, req: IncomingMessage, res: ServerResponse) => void
}

interface CompiledRoute {
  method: Method
  segments: string[]
  body: z.ZodType | undefined
  status: number
  handle: ((ctx: RouteContext<Record<string, string>, unknown>) => Promise<unknown>) | undefined
  stream: ((
    ctx: RouteContext<Record<string, string>, undefined>, req: IncomingMessage, res: ServerResponse
  ) => void) | undefined
}

export class Router {
  private readonly routes: CompiledRoute[] = []

  json<P extends string, S extends z.ZodType | undefined = undefined> (route: JsonRoute<P, S>): this {
    this.routes.push({
      method: route.method,
      segments: split(route.path),
      body: route.body,
      status: route.status ?? 200,
      handle: route.handle as CompiledRoute['handle'],
      stream: undefined
    })
    return this
  }

  streaming<P extends string> (route: StreamRoute<P>): this {
    this.routes.push({
      method: route.method,
      segments: split(route.path),
      body: undefined,
      status: 200,
      handle: undefined,
      stream: route.stream as CompiledRoute['stream']
    })
    return this
  }

  /** Serve one request; never rejects (errors become replies). */
  async dispatch (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await this.serve(req, res)
    } catch (err) {
      sendError(res, err)
    }
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://ovnet')
    const parts = split(url.pathname)
    let pathMatched = false
    for (const route of this.routes) {
      const params = match(route.segments, parts)
      if (params === undefined) continue
      pathMatched = true
      if (route.method !== req.method) continue
      if (route.stream !== undefined) {
        route.stream({ params, query: url.searchParams, body: undefined }, req, res)
        return
      }
      const body = await readBody(req, route.body)
      const result = await route.handle!({ params, query: url.searchParams, body })
      if (result === undefined) {
        res.writeHead(204).end()
      } else {
        sendJson(res, route.status, result)
      }
      return
    }
    if (pathMatched) {
      sendJson(res, 405, {
        error: `method ${req.method ?? ''} not allowed on ${url.pathname}`, type: 'MethodNotAllowed'
      } satisfies ApiErrorBody)
    } else {
      sendJson(res, 404, { error: `no such API endpoint: ${url.pathname}`, type: 'NotFound' } satisfies ApiErrorBody)
    }
  }
}

function split (path: string): string[] {
  return path.split('/').filter(s => s !== '')
}

function match (pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined
  const params: Record<string, string> = {}
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    const v = parts[i]!
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(v)
      } catch {
        return undefined
      }
    } else if (p !== v) {
      return undefined
    }
  }
  return params
}

async function readBody (req: IncomingMessage, schema: z.ZodType | undefined): Promise<unknown> {
  // Request bodies are small JSON documents; anything larger is a mistake or an attack.
  const text = await readBodyText(req)
  if (schema === undefined) return undefined
  const raw = text === '' ? {} : parseJsonBody(text)
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new BadRequestError(describeIssues(parsed.error))
  return parsed.data
}

/** One line for every issue, e.g. "invalid CIDR address: 10.0.0.0/33; VNI must be an integer". */
export function describeIssues (error: z.ZodError): string {
  return error.issues.map(i => {
    // Custom checks carry Go's own wording ("invalid CIDR address: X"), which names the value and
    // must reach the user unchanged; other messages get the field's path in front.
    const path = i.path.map(String).join('.')
    if (path === '' || i.code === 'custom' || i.message.includes(path)) return i.message
    return `${path}: ${i.message}`
  }).join('; ')
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

export function sendError (res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    // Mid-stream: the status is gone; cutting the connection is the only signal left.
    res.destroy(err instanceof Error ? err : undefined)
    return
  }
  closeAfterError(res, err)
  sendJson(res, httpStatusOf(err), errorBodyOf(err))
}
