import assert from 'node:assert/strict'
import { request } from 'node:http'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AgentUnavailableError, ApiClient, ApiError } from '../../agent/api-client.js'
import { ApiServer } from '../../agent/api-server.js'
import type { ControlEvent } from '../../agent/api-types.js'
import { SocketInUseError } from '../../agent/unix-socket.js'
import { memoryLogger } from '../../core/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { makeStaleSocket, tempDir, waitFor } from './helpers.js'

/** Raw request, for what the typed client never sends (bad JSON, unknown routes). */
async function raw (socketPath: string, method: string, path: string, body?: string): Promise<{ status: number, body: unknown }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) }) })
    })
    req.once('error', reject)
    req.end(body)
  })
}

async function expectApiError (p: Promise<unknown>, status: number, type: string, message: string | RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${String(err)}`)
    assert.equal(err.status, status)
    assert.equal(err.type, type)
    if (typeof message === 'string') assert.equal(err.message, message)
    else assert.match(err.message, message)
    return true
  })
}

describe('control API: server and client over the unix socket', function () {
  let dir: string
  let cleanup: () => Promise<void>
  let socket: string
  let ctl: FixtureController
  let server: ApiServer | undefined
  let client: ApiClient

  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => { await cleanup() })

  beforeEach(async () => {
    socket = join(dir, `api-${Math.random().toString(36).slice(2, 8)}.sock`)
    ctl = new FixtureController()
    server = new ApiServer(ctl, { socketPath: socket, logger: memoryLogger(), info: { Name: 'host-1', Version: '9.9.9' } })
    await server.listen()
    client = new ApiClient(socket)
  })
  afterEach(async () => { await server?.close(); server = undefined })

  it('ping answers the agent name and version', async () => {
    assert.deepEqual(await client.ping(), { Name: 'host-1', Version: '9.9.9' })
  })

  it('creates the socket with mode 0660 and removes it on close', async () => {
    const st = await stat(socket)
    assert.ok(st.isSocket())
    assert.equal(st.mode & 0o777, 0o660)
    await server!.close()
    server = undefined
    await assert.rejects(stat(socket), { code: 'ENOENT' })
  })

  it('round-trips members, networks, attach, detach, ipam and reclaim', async () => {
    const members = await client.members()
    assert.deepEqual(members.map(m => [m.Name, m.Status, m.RTT]), [['host-1', 'alive', 0.125], ['host-2', 'failed', null]])

    const { Id } = await client.createNetwork({ Name: 'red', Subnet: '10.9.0.0/24', VNI: 5000, Options: { a: 'b' } })
    assert.match(Id, /^[0-9a-f]{64}$/)
    const ls = await client.listNetworks()
    assert.deepEqual(ls.map(n => [n.Name, n.Id, n.Driver, n.Scope, n.Subnets]), [['red', Id, 'overlay', 'global', ['10.9.0.0/24']]])

    const att = await client.attach('red', { Netns: 'c1', IP: '10.9.0.7' })
    assert.deepEqual({ ip: att.IPv4Address, mac: att.MacAddress }, { ip: '10.9.0.7/24', mac: '02:42:0a:09:00:07' })

    const plain = await client.inspectNetwork(Id.slice(0, 12))
    assert.equal(plain.Name, 'red')
    assert.equal(plain.Options['com.docker.network.driver.overlay.vxlanid_list'], '5000')
    assert.deepEqual(Object.keys(plain.Containers), [att.EndpointID])
    assert.equal(plain.Peers, undefined)
    const verbose = await client.inspectNetwork('red', true)
    assert.deepEqual(verbose.Peers?.map(p => p.Name), ['host-1', 'host-2'])
    assert.deepEqual(verbose.Endpoints?.map(e => e.EndpointIP), ['10.9.0.7'])
    assert.ok(verbose.Status?.IPAM.Subnets['10.9.0.0/24'] !== undefined)

    const ipam = await client.ipamStatus()
    assert.deepEqual(ipam.Pools.map(p => [p.Network, p.Subnet]), [['red', '10.9.0.0/24']])
    assert.deepEqual(await client.ipamReclaim('host-2'), { Node: 'host-2', Reclaimed: ['10.200.0.128/25'] })

    await client.detach('red', { Netns: 'c1' })
    assert.equal(ctl.find('red').endpoints.size, 0)
    await client.removeNetwork('red')
    assert.equal(ctl.networks.size, 0)
  })

  describe('error mapping', function () {
    beforeEach(async () => {
      await client.createNetwork({ Name: 'red', Subnet: '10.9.0.0/30' })
    })

    it('unknown network → 404 ErrNoSuchNetwork with libnetwork text', async () => {
      await expectApiError(client.inspectNetwork('blue'), 404, 'ErrNoSuchNetwork', 'network blue not found')
      await expectApiError(client.removeNetwork('blue'), 404, 'ErrNoSuchNetwork', 'network blue not found')
      await expectApiError(client.attach('blue', { Netns: 'c1' }), 404, 'ErrNoSuchNetwork', 'network blue not found')
    })

    it('duplicate name → 409 NetworkNameError, state unchanged', async () => {
      await expectApiError(client.createNetwork({ Name: 'red' }), 409, 'NetworkNameError', 'network with name red already exists')
      assert.equal(ctl.networks.size, 1)
    })

    it('overlapping subnet → 409 with the IPAM text', async () => {
      await expectApiError(client.createNetwork({ Name: 'blue', Subnet: '10.9.0.0/16' }), 409, 'FixtureIpamError', 'Pool overlaps with other one on this address space')
    })

    it('exhausted pool → 503 with the IPAM text', async () => {
      await client.attach('red', { Netns: 'c1' }) // a /30: gateway .1, one container .2
      await expectApiError(client.attach('red', { Netns: 'c2' }), 503, 'FixtureIpamError', 'no available addresses on this pool')
    })

    it('detach of an unknown endpoint → 404 ErrNoSuchEndpoint', async () => {
      await expectApiError(client.detach('red', { Netns: 'nope' }), 404, 'ErrNoSuchEndpoint', 'endpoint nope not found')
    })

    it('rm with endpoints left → 409 ActiveEndpointsError, network kept', async () => {
      await client.attach('red', { Netns: 'c1' })
      const id = ctl.find('red').id
      await expectApiError(client.removeNetwork('red'), 409, 'ActiveEndpointsError', `network red id ${id} has active endpoints`)
      assert.equal(ctl.networks.size, 1)
    })

    it('bad input → 400 BadRequestError with Go net texts, before the controller is called', async () => {
      await expectApiError(client.createNetwork({ Name: 'blue', Subnet: '10.0.0.0/33' }), 400, 'BadRequestError', 'invalid CIDR address: 10.0.0.0/33')
      await expectApiError(client.createNetwork({ Name: 'blue', Gateway: '10.0.0.300' }), 400, 'BadRequestError', 'invalid IP address: 10.0.0.300')
      await expectApiError(client.createNetwork({ Name: 'blue', VNI: 7 }), 400, 'BadRequestError', 'VNI must be in 4096-16777215')
      await expectApiError(client.createNetwork({ Name: '' }), 400, 'BadRequestError', 'invalid name: Name is empty')
      await expectApiError(client.attach('red', { Netns: 'c1', MAC: 'zz' }), 400, 'BadRequestError', 'address zz: invalid MAC address')
      assert.equal(ctl.networks.size, 1)
      assert.equal(ctl.find('red').endpoints.size, 0)
    })

    it('malformed JSON, unknown fields, unknown routes and wrong methods', async () => {
      let r = await raw(socket, 'POST', '/v1/networks', '{"Name":')
      assert.equal(r.status, 400)
      assert.equal((r.body as { type: string }).type, 'BadRequestError')
      assert.match((r.body as { error: string }).error, /^invalid JSON body/)
      r = await raw(socket, 'POST', '/v1/networks', '{"Name":"x","Bogus":1}')
      assert.equal(r.status, 400)
      assert.match((r.body as { error: string }).error, /Bogus/)
      r = await raw(socket, 'GET', '/v1/nothing')
      assert.equal(r.status, 404)
      assert.equal((r.body as { type: string }).type, 'NotFound')
      r = await raw(socket, 'PUT', '/v1/networks')
      assert.equal(r.status, 405)
    })

    it('an unexpected controller failure → 500 with its message', async () => {
      ctl.members = async () => { throw new Error('boom') }
      await expectApiError(client.members(), 500, 'Error', 'boom')
    })
  })

  it('streams events as NDJSON and unsubscribes when the client goes away', async () => {
    const abort = new AbortController()
    const got: ControlEvent[] = []
    const reading = (async () => {
      for await (const ev of client.events(abort.signal)) {
        got.push(ev)
        if (got.length === 2) abort.abort()
      }
    })()
    await waitFor(() => ctl.subscribers === 1)
    const { Id } = await client.createNetwork({ Name: 'red' })
    await client.removeNetwork(Id)
    await reading
    assert.deepEqual(got.map(e => [e.Type, e.Action, e.Actor.ID]), [['network', 'create', Id], ['network', 'destroy', Id]])
    assert.ok(!Number.isNaN(Date.parse(got[0]!.Time)))
    await waitFor(() => ctl.subscribers === 0)
  })

  it('ends open event streams when the server closes', async () => {
    const got: ControlEvent[] = []
    const reading = (async () => { for await (const ev of client.events()) got.push(ev) })()
    await waitFor(() => ctl.subscribers === 1)
    await server!.close()
    server = undefined
    await reading // ends instead of hanging
    assert.equal(ctl.subscribers, 0)
  })
})

describe('control API: socket ownership', function () {
  let dir: string
  let cleanup: () => Promise<void>
  const servers: Array<{ close: () => Promise<void> | void }> = []

  before(async () => { ({ dir, cleanup } = await tempDir()) })
  afterEach(async () => { for (const s of servers.splice(0)) await s.close() })
  after(async () => { await cleanup() })

  const newServer = (socket: string): ApiServer => {
    const s = new ApiServer(new FixtureController(), { socketPath: socket, logger: memoryLogger(), info: { Name: 'n', Version: '0' } })
    servers.push(s)
    return s
  }

  it('a client with no agent gets AgentUnavailableError (missing socket and stale socket)', async () => {
    const missing = join(dir, 'missing.sock')
    await assert.rejects(new ApiClient(missing).members(), (err: unknown) => {
      assert.ok(err instanceof AgentUnavailableError)
      assert.equal(err.code, 'ENOENT')
      assert.equal(err.message, `cannot connect to the ovnet agent at ${missing}: is the agent running?`)
      return true
    })
    // A stale socket file: bound once, its listener gone.
    const stale = join(dir, 'stale-client.sock')
    await makeStaleSocket(stale)
    await assert.rejects(new ApiClient(stale).members(), (err: unknown) => err instanceof AgentUnavailableError && err.code === 'ECONNREFUSED')
  })

  it('removes a stale socket file left by a crashed agent', async () => {
    const socket = join(dir, 'stale.sock')
    await makeStaleSocket(socket)
    assert.ok((await stat(socket)).isSocket())
    const s = newServer(socket)
    await s.listen()
    assert.deepEqual(await new ApiClient(socket).ping(), { Name: 'n', Version: '0' })
  })

  it('refuses to start when another agent answers on the socket, and leaves it alone', async () => {
    const socket = join(dir, 'live.sock')
    const first = newServer(socket)
    await first.listen()
    const second = new ApiServer(new FixtureController(), { socketPath: socket, logger: memoryLogger(), info: { Name: 'second', Version: '0' } })
    await assert.rejects(second.listen(), SocketInUseError)
    assert.equal((await new ApiClient(socket).ping()).Name, 'n')
  })

  it('refuses to remove a file that is not a socket', async () => {
    const path = join(dir, 'not-a-socket')
    await writeFile(path, 'precious')
    await assert.rejects(newServer(path).listen(), /exists and is not a socket/)
    assert.ok((await stat(path)).isFile())
  })
})
