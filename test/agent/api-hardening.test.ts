/**
 * The control API and the Docker plugin against hostile or broken local clients, over real unix
 * sockets: oversized bodies (413, nothing changed, the connection closed), stalled clients (cut
 * after the header / whole-request timeouts while others are served), malformed JSON, unknown
 * fields (refused by the control API, ignored by the plugin: docs/security.md), concurrent
 * conflicting calls on the real controller (in-memory cluster), the socket's mode and group, and
 * the metrics address a bare port gives.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { ApiServer } from '../../agent/api-server.js'
import { ConfigError, loadAgentConfig, resolveGroup } from '../../agent/config.js'
import { PluginServer } from '../../agent/docker-plugin/server.js'
import { MAX_BODY_BYTES } from '../../agent/unix-http.js'
import { memoryLogger } from '../../core/index.js'
import { MemoryDataplane } from '../../overlay/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { keyedTempDirFixture, tempDir } from './helpers.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

interface Reply { status: number, body: string, headers: Record<string, string | string[] | undefined> }

async function call (
  socketPath: string, method: string, path: string, body?: string | Buffer, chunked = false
): Promise<Reply> {
  return await new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    if (chunked) headers['transfer-encoding'] = 'chunked'
    const req = request({ socketPath, method, path, agent: false, headers }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }) })
    })
    req.once('error', reject)
    req.end(body)
  })
}

/** Write `text` on a raw connection and wait for the server to close it; what it answered, and when. */
async function stall (
  socketPath: string, text: string, maxMs: number
): Promise<{ closedAfterMs: number, answer: string }> {
  return await new Promise((resolve, reject) => {
    const t0 = performance.now()
    const sock: Socket = connect({ path: socketPath })
    let answer = ''
    const guard = setTimeout(() => {
      sock.destroy()
      reject(new Error(`the server kept a stalled client for ${maxMs} ms`))
    }, maxMs)
    sock.on('data', d => { answer += d.toString() })
    sock.once('error', () => {})
    sock.once('close', () => { clearTimeout(guard); resolve({ closedAfterMs: performance.now() - t0, answer }) })
    sock.write(text)
  })
}

const TIMEOUTS = { headersMs: 300, requestMs: 600 }
const INFO = { Name: 'h', Version: '0' }

describe('control API hardening (real unix sockets)', function () {
  this.timeout(30_000)
  let dir: string
  let cleanup: () => Promise<void>
  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => { await cleanup() })

  let ctl: FixtureController
  let server: ApiServer
  let socket: string
  beforeEach(async () => {
    socket = join(dir, `h-${Math.random().toString(36).slice(2, 8)}.sock`)
    ctl = new FixtureController()
    server = new ApiServer(ctl, { socketPath: socket, logger: memoryLogger(), info: INFO, timeouts: TIMEOUTS })
    await server.listen()
  })
  afterEach(async () => { await server.close() })

  const networks = async (): Promise<string[]> =>
    (JSON.parse((await call(socket, 'GET', '/v1/networks')).body) as Array<{ Name: string }>).map(n => n.Name)

  it('an oversized body is 413 (by its length, or streamed), nothing is created, the connection closes', async () => {
    const before = await networks()
    const big = JSON.stringify({ Name: 'big', Labels: { a: 'x'.repeat(MAX_BODY_BYTES) } })
    for (const chunked of [false, true]) {
      const r = await call(socket, 'POST', '/v1/networks', big, chunked)
        .catch((err: unknown) => ({ status: -1, body: String(err), headers: {} }))
      // the reply may race the client still sending; then the socket closes under the client
      if (r.status !== -1) {
        assert.equal(r.status, 413, r.body)
        assert.equal((JSON.parse(r.body) as { type: string }).type, 'PayloadTooLargeError')
        assert.equal((r.headers as Record<string, unknown>).connection, 'close')
      }
    }
    assert.deepEqual(await networks(), before)
    assert.equal((await call(socket, 'GET', '/v1/ping')).status, 200, 'still serving')
  })

  it('a client stalling in its headers or body is cut off; others are served meanwhile; nothing changes', async () => {
    const before = await networks()
    const headers = stall(socket, 'POST /v1/networks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n', 10_000)
    const body = stall(socket, 'POST /v1/networks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"Name":"slow"',
      10_000)
    // the agent answers other clients while two connections hang
    assert.equal((await call(socket, 'GET', '/v1/ping')).status, 200)
    const [h, b] = await Promise.all([headers, body])
    assert.ok(h.closedAfterMs < 5000 && b.closedAfterMs < 5000, JSON.stringify({ h, b }))
    assert.match(h.answer + b.answer, /408|^$/)
    assert.deepEqual(await networks(), before)
  })

  it('malformed JSON and unknown fields are 400 with the reason; nothing changes', async () => {
    const before = await networks()
    for (const [body, re] of [
      ['{"Name": "x"', /invalid JSON body/],
      ['[1,2]', /expected object/i],
      ['{"Name": "x", "Subnett": "10.1.0.0/24"}', /Subnett/],
      ['{"Name": "x", "__proto__": {"Internal": true}}', /__proto__|Unrecognized/i],
      ['{"Name": "x\\nlink del br0"}', /Name/]
    ] as const) {
      const r = await call(socket, 'POST', '/v1/networks', body)
      assert.equal(r.status, 400, body)
      assert.match((JSON.parse(r.body) as { error: string }).error, re, body)
    }
    const attach = await call(socket, 'POST', '/v1/networks/web/attach', '{"Netns": "c1", "Netnss": "c2"}')
    assert.equal(attach.status, 400)
    assert.match(attach.body, /Netnss/)
    // values the dataplane would refuse only after allocating are refused here, first
    for (const ifName of ['a;b', 'et\u0000h', '-x', '.x', 'eth0\nlink', 'e'.repeat(16)]) {
      const body = JSON.stringify({ Netns: 'c1', IfName: ifName, ContainerID: 'c', CNINetwork: 'n' })
      const r = await call(socket, 'POST', '/v1/networks/web/attach', body)
      assert.equal(r.status, 400, ifName)
      assert.match(r.body, /invalid interface name/)
    }
    for (const netns of ['a b', 'x\u0000', '../x', '-all', '/etc/passwd']) {
      const r = await call(socket, 'POST', '/v1/networks/web/attach', JSON.stringify({ Netns: netns }))
      assert.equal(r.status, 400, netns)
    }
    assert.deepEqual(await networks(), before)
  })

  it('the socket is 0660 and takes the configured group', async () => {
    const s = join(dir, 'group.sock')
    const g = new ApiServer(ctl, { socketPath: s, socketGroup: 65534, logger: memoryLogger(), info: INFO })
    await g.listen()
    try {
      const st = await stat(s)
      assert.equal(st.mode & 0o777, 0o660)
      assert.equal(st.gid, 65534)
    } finally {
      await g.close()
    }
    assert.equal((await stat(socket)).mode & 0o777, 0o660)
  })
})

describe('Docker plugin hardening (real unix socket)', function () {
  this.timeout(30_000)
  let dir: string
  let cleanup: () => Promise<void>
  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => { await cleanup() })

  it('413 for an oversized body, unknown fields ignored (newer dockerd), stalled clients cut off', async () => {
    const socket = join(dir, 'plugin.sock')
    const seen: unknown[] = []
    const handle = async (b: never): Promise<object> => { seen.push(b); return {} }
    const routes = new Map([['/NetworkDriver.CreateNetwork', { schema: z.object({ NetworkID: z.string() }), handle }]])
    const server = new PluginServer(routes, { socketPath: socket, logger: memoryLogger(), timeouts: TIMEOUTS })
    await server.listen()
    try {
      const path = '/NetworkDriver.CreateNetwork'
      const huge = JSON.stringify({ NetworkID: 'x'.repeat(MAX_BODY_BYTES) })
      const big = await call(socket, 'POST', path, huge).catch(() => undefined)
      if (big !== undefined) assert.equal(big.status, 413)
      assert.equal(seen.length, 0)
      const ok = await call(socket, 'POST', path, '{"NetworkID": "n1", "SomethingNew": {"x": 1}}')
      assert.equal(ok.status, 200, ok.body)
      assert.deepEqual(seen, [{ NetworkID: 'n1' }], 'the unknown field is dropped before the handler')
      const bad = await call(socket, 'POST', '/NetworkDriver.CreateNetwork', '{"NetworkID": ')
      assert.equal(bad.status, 400)
      assert.match(bad.body, /invalid JSON body/)
      const s = await stall(socket, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{`, 10_000)
      assert.ok(s.closedAfterMs < 5000)
      assert.equal(seen.length, 1)
    } finally {
      await server.close()
    }
  })
})

describe('concurrent conflicting calls through the API socket (real controller)', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  let s: ControllerStack | undefined
  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => { await s?.close(); await cleanup() })

  it('two creates of one name: one 201, one 409; attach racing rm: no endpoint on a removed network', async () => {
    const dps = [new MemoryDataplane(), new MemoryDataplane()]
    s = await controllerStack(2, { dataplane: i => dps[i]! })
    const k = s
    const sockets = [join(dir, 'c0.sock'), join(dir, 'c1.sock')]
    const servers = [0, 1].map(i =>
      new ApiServer(k.host(i).controller, { socketPath: sockets[i]!, logger: memoryLogger(), info: INFO }))
    for (const srv of servers) await srv.listen()
    try {
      const create = '{"Name": "dup", "Subnet": "10.77.0.0/24"}'
      const post = async (): Promise<Reply> => await call(sockets[0]!, 'POST', '/v1/networks', create)
      const same = await k.run(async () => await Promise.all([post(), post()]))
      assert.deepEqual(same.map(r => r.status).sort(), [201, 409], JSON.stringify(same.map(r => r.body)))
      assert.match(same.find(r => r.status === 409)!.body, /already exists/)
      await k.c.advance(1000)
      for (let round = 0; round < 4; round++) {
        const name = `race${round}`
        const created = await k.run(async () => await call(sockets[0]!, 'POST', '/v1/networks', `{"Name": "${name}"}`))
        const nid = (JSON.parse(created.body) as { Id: string }).Id
        await k.c.advance(1000)
        const [att, rm] = await k.run(async () => await Promise.all([
          call(sockets[round % 2]!, 'POST', `/v1/networks/${name}/attach`, '{"Netns": "c1"}'),
          call(sockets[0]!, 'DELETE', `/v1/networks/${name}`)
        ]))
        await k.c.advance(2000)
        const exists = (await k.run(async () => await call(sockets[0]!, 'GET', `/v1/networks/${name}`))).status === 200
        if (att.status === 200) {
          // the attach won: the removal was refused (active endpoints) and the network is still there
          assert.equal(rm.status, 409, rm.body)
          assert.ok(exists)
        } else {
          assert.equal(rm.status, 204, rm.body)
          assert.ok([404, 409].includes(att.status), `${att.status} ${att.body}`)
          assert.ok(!exists)
          // no endpoint of it is left in any host's dataplane
          const eps = dps.flatMap(d => [...d.sandboxes.values()].flatMap(sb => [...sb.endpoints.values()]))
          assert.deepEqual(eps.filter(e => e.sandbox.endsWith(nid.slice(0, 12))), [])
        }
      }
    } finally {
      for (const srv of servers) await srv.close()
    }
  })
})

describe('agent configuration: socket group, metrics address', () => {
  const tmp = keyedTempDirFixture()

  it('a bare metrics port binds to 127.0.0.1 only; an address must be written out', async () => {
    const cases = [
      ['9469', '127.0.0.1:9469'], [':9469', '127.0.0.1:9469'], ['0.0.0.0:9469', '0.0.0.0:9469'],
      ['[::1]:9469', '::1:9469']
    ]
    for (const [flag, want] of cases as Array<[string, string]>) {
      const c = await loadAgentConfig({ clusterKey: tmp.key, metrics: flag }, { cwd: tmp.dir, hostname: 'h1' })
      assert.equal(`${c.metrics!.host}:${c.metrics!.port}`, want, flag)
    }
    await assert.rejects(loadAgentConfig({ clusterKey: tmp.key, metrics: '99999' }, { cwd: tmp.dir, hostname: 'h1' }), 
      ConfigError)
  })

  it('socket-group: a name from the group file or a number; an unknown group is a ConfigError', async () => {
    const groups = join(tmp.dir, 'group')
    await writeFile(groups, 'root:x:0:\novnet:x:1234:alice,bob\n')
    assert.equal(await resolveGroup('ovnet', groups), 1234)
    assert.equal(await resolveGroup('77', groups), 77)
    const noSuch = (e: unknown): boolean => e instanceof ConfigError && /no group nosuch/.test(e.message)
    await assert.rejects(resolveGroup('nosuch', groups), noSuch)
    await assert.rejects(resolveGroup('a b\nroot', groups), ConfigError)
    const c = await loadAgentConfig({ clusterKey: tmp.key, socketGroup: 'root' }, { cwd: tmp.dir, hostname: 'h1' })
    assert.equal(c.socketGroup, 0)
    assert.equal((await loadAgentConfig({ clusterKey: tmp.key }, { cwd: tmp.dir, hostname: 'h1' })).socketGroup, undefined)
  })
})
