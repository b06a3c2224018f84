import assert from 'node:assert/strict'
import { Agent, createServer, request } from 'node:http'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BadRequestError, PayloadTooLargeError } from '../../agent/errors.js'
import { MAX_BODY_BYTES, parseJsonBody, readBodyText, UnixHttpListener } from '../../agent/unix-http.js'
import { memoryLogger } from '../../core/index.js'
import { tempDir, waitFor } from './helpers.js'

/** POST `body` over `socketPath` (optionally on a keep-alive agent); the reply's status and text. */
async function post (socketPath: string, body: string | Buffer, agent: Agent | false = false): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'POST', path: '/', agent }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text }) })
    })
    req.once('error', reject)
    req.end(body)
  })
}

describe('agent unix-http: shared body reading and socket lifecycle', () => {
  let dir: string
  let cleanup: () => Promise<void>
  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => { await cleanup() })

  it('reads a body whole, refuses one over the limit with a PayloadTooLargeError, and parses JSON', async () => {
    const socket = join(dir, 'body.sock')
    const refused: unknown[] = []
    const server = createServer((req, res) => {
      readBodyText(req).then(
        text => { res.end(`ok ${text.length}`) },
        (err: unknown) => {
          refused.push(err)
          res.statusCode = err instanceof PayloadTooLargeError ? 413 : 500
          res.end((err as Error).message)
        }
      )
    })
    const unix = new UnixHttpListener(server, { socketPath: socket, logger: memoryLogger(), name: 'test' })
    await unix.listen()
    try {
      assert.deepEqual(await post(socket, Buffer.alloc(MAX_BODY_BYTES, 'x')), { status: 200, text: `ok ${MAX_BODY_BYTES}` })
      assert.equal(refused.length, 0)
      const over = await post(socket, Buffer.alloc(MAX_BODY_BYTES + 1, 'x')).catch(() => undefined)
      // The server may answer before the client has sent everything, or the socket may close under
      // it: the client may see no answer, but the server's refusal is checked every time.
      await waitFor(() => refused.length > 0)
      assert.equal(refused.length, 1)
      const err = refused[0]
      assert.ok(err instanceof PayloadTooLargeError, String(err))
      assert.equal(err.message, `request body of ${MAX_BODY_BYTES + 1} bytes is larger than ${MAX_BODY_BYTES} bytes`)
      if (over !== undefined) assert.deepEqual(over, { status: 413, text: `request body of ${MAX_BODY_BYTES + 1} bytes is larger than ${MAX_BODY_BYTES} bytes` })
    } finally {
      await unix.close()
    }
    assert.deepEqual(parseJsonBody('{"a":[1]}'), { a: [1] })
    assert.throws(() => parseJsonBody('{"a":'), (err: unknown) => err instanceof BadRequestError && /^invalid JSON body: /.test(err.message))
  })

  it('listens with the given mode (default 0660); close runs its hook, ends idle keep-alive clients and removes the file', async () => {
    const socket = join(dir, 'mode.sock')
    const logger = memoryLogger()
    const server = createServer((req, res) => { req.resume(); res.end('hi') })
    const unix = new UnixHttpListener(server, { socketPath: socket, socketMode: 0o600, logger, name: 'test API' })
    await unix.close() // not listening: nothing
    await unix.listen()
    assert.equal((await stat(socket)).mode & 0o777, 0o600)
    assert.ok(logger.lines.some(l => l.msg === 'test API listening'))
    const keepAlive = new Agent({ keepAlive: true })
    let hooked = 0
    try {
      assert.equal((await post(socket, '', keepAlive)).text, 'hi')
      await unix.close(() => { hooked++ }) // would wait for the idle connection without closeIdleConnections
      await unix.close(() => { hooked++ })
      assert.equal(hooked, 1, 'closes once')
      await assert.rejects(stat(socket), { code: 'ENOENT' })
    } finally {
      keepAlive.destroy()
    }
    const again = new UnixHttpListener(createServer((_req, res) => { res.end() }), { socketPath: socket, logger, name: 'again' })
    await again.listen()
    assert.equal((await stat(socket)).mode & 0o777, 0o660)
    await again.close()
  })
})
