/**
 * The `ovnet` CLI run as a child process (bin/ovnet.js, as users run it) against a control API
 * served by the test fixture controller on a temp socket.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiServer } from '../../agent/api-server.js'
import type { AttachResponse, ControlEvent, IpamStatusView, NetworkSummary } from '../../agent/api-types.js'
import { memoryLogger } from '../../core/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { OVNET_BIN, ovnet, tempDir, waitFor, type RunResult } from './helpers.js'

function failed (r: RunResult, code: number, stderr: string | RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`)
  if (typeof stderr === 'string') assert.equal(r.stderr, stderr + '\n')
  else assert.match(r.stderr, stderr)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, 'one line on stderr')
}

/** JSON output of the CLI, typed by the contract it is meant to follow. */
const parse = <T>(text: string): T => JSON.parse(text) as T

function ok (r: RunResult): string {
  assert.equal(r.code, 0, `exit code (stderr: ${r.stderr})`)
  return r.stdout
}

describe('ovnet CLI (child process against a fixture agent)', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  let socket: string
  let ctl: FixtureController
  let server: ApiServer | undefined

  before(async () => { ({ dir, cleanup } = await tempDir('ovnet-cli-')) })
  after(async () => { await cleanup() })
  beforeEach(async () => {
    socket = join(dir, `agent-${Math.random().toString(36).slice(2, 8)}.sock`)
    ctl = new FixtureController()
    server = new ApiServer(ctl, { socketPath: socket, logger: memoryLogger(), info: { Name: 'host-1', Version: '0.1.0' } })
    await server.listen()
  })
  afterEach(async () => { await server?.close(); server = undefined })

  it('cluster members: aligned table and the JSON contract', async () => {
    const [table, json] = await Promise.all([
      ovnet(['cluster', 'members'], { socket }),
      ovnet(['cluster', 'members', '--json'], { socket })
    ])
    assert.deepEqual(ok(table).split('\n'), [
      'NAME     ID                       ADDRESS      STATUS   RTT',
      'host-1   12D3KooWFixtureNodeOne   192.0.2.11   alive    0.125 ms',
      'host-2   12D3KooWFixtureNodeTwo   192.0.2.12   failed   unreachable',
      ''
    ])
    assert.deepEqual(JSON.parse(ok(json)), [
      { Name: 'host-1', ID: '12D3KooWFixtureNodeOne', Address: '192.0.2.11', Status: 'alive', RTT: 0.125 },
      { Name: 'host-2', ID: '12D3KooWFixtureNodeTwo', Address: '192.0.2.12', Status: 'failed', RTT: null }
    ])
  })

  it('network create/ls/inspect/rm and attach/detach', async () => {
    const id = ok(await ovnet(['network', 'create', 'red', '--subnet', '10.9.0.0/24', '--gateway', '10.9.0.254', '--ip-range', '10.9.0.0/25',
      '--vni', '5000', '--opt', 'a=b', '--opt', 'mtu=1400', '--opt', 'encrypted', '--label', 'team=x'], { socket })).trim()
    assert.match(id, /^[0-9a-f]{64}$/)
    const net = ctl.find('red')
    assert.equal(net.vni, 5000)
    assert.deepEqual(net.options, { a: 'b', mtu: '1400', encrypted: '', 'com.docker.network.driver.overlay.vxlanid_list': '5000' })
    assert.deepEqual(net.labels, { team: 'x' })

    const [ls, lsJson] = await Promise.all([ovnet(['network', 'ls'], { socket }), ovnet(['network', 'ls', '--json'], { socket })])
    assert.deepEqual(ok(ls).split('\n'), [
      'NETWORK ID     NAME   DRIVER    SCOPE    SUBNET',
      `${id.slice(0, 12)}   red    overlay   global   10.9.0.0/24`,
      ''
    ])
    assert.deepEqual(parse<NetworkSummary[]>(ok(lsJson)).map(n => n.Id), [id])

    const att = parse<AttachResponse>(ok(await ovnet(['attach', 'red', '--netns', 'c1', '--ip', '10.9.0.5', '--json'], { socket })))
    assert.deepEqual(Object.keys(att), ['EndpointID', 'IPv4Address', 'MacAddress'])
    assert.equal(att.IPv4Address, '10.9.0.5/24')
    const human = ok(await ovnet(['attach', 'red', '--netns', './netns/c2', '--mac', '02:00:00:00:00:02'], { socket, cwd: '/run' }))
    assert.match(human, /^ENDPOINT ID +IPV4 ADDRESS +MAC ADDRESS\n[0-9a-f]{64} +10\.9\.0\.1\/24 +02:00:00:00:00:02\n$/)
    ok(await ovnet(['attach', 'red', '--netns', 'c3', '--alias', 'web', '--alias', 'db', '--dns'], { socket }))
    assert.deepEqual([ctl.lastAttach?.Aliases, ctl.lastAttach?.DNS], [['web', 'db'], true])
    ok(await ovnet(['detach', 'red', '--netns', 'c3'], { socket }))
    const badAlias = await ovnet(['attach', 'red', '--netns', 'c4', '--alias', '-x'], { socket })
    assert.notEqual(badAlias.code, 0)
    assert.match(badAlias.stderr, /invalid alias "-x"/)
    // A relative namespace path is resolved by the CLI: the agent's working directory is not ours.
    assert.ok([...net.endpoints.values()].some(e => e.netns === '/run/netns/c2'))

    const [inspect, verbose] = await Promise.all([
      ovnet(['network', 'inspect', id.slice(0, 8)], { socket }),
      ovnet(['network', 'inspect', 'red', '--verbose'], { socket })
    ])
    const [plain] = JSON.parse(ok(inspect)) as Array<Record<string, unknown>>
    assert.equal(plain!.Name, 'red')
    assert.equal(plain!.Scope, 'global')
    assert.equal(plain!.Driver, 'overlay')
    assert.equal(Object.keys(plain!.Containers as object).length, 2)
    assert.equal(plain!.Peers, undefined)
    const [v] = JSON.parse(ok(verbose)) as Array<{ Peers: unknown[], Endpoints: unknown[], Status: unknown }>
    assert.equal(v!.Peers.length, 2)
    assert.equal(v!.Endpoints.length, 2)
    assert.ok(v!.Status !== undefined)

    ok(await ovnet(['detach', 'red', '--netns', 'c1'], { socket }))
    ok(await ovnet(['detach', 'red', '--netns', '/run/netns/c2'], { socket }))
    assert.equal(net.endpoints.size, 0)
    assert.equal(ok(await ovnet(['network', 'rm', 'red'], { socket })), 'red\n')
    assert.equal(ctl.networks.size, 0)
  })

  it('ipam status and reclaim', async () => {
    await ctl.createNetwork({ Name: 'red', Subnet: '10.9.0.0/24' })
    const [table, json, reclaim] = await Promise.all([
      ovnet(['ipam', 'status'], { socket }),
      ovnet(['ipam', 'status', '--json'], { socket }),
      ovnet(['ipam', 'reclaim', 'host-2'], { socket })
    ])
    assert.match(ok(table), /^SUBNET +NETWORK +IN USE +AVAILABLE\n10\.9\.0\.0\/24 +red +3 +253\n\nRANGE +SUBNET +OWNER +IN USE\n/)
    assert.equal(parse<IpamStatusView>(ok(json)).Pools[0]?.Subnet, '10.9.0.0/24')
    assert.equal(ok(reclaim), 'reclaimed from host-2: 10.200.0.128/25\n')
  })

  it('every error path: libnetwork text on one line, exit 1, state unchanged', async () => {
    await ctl.createNetwork({ Name: 'red', Subnet: '10.9.0.0/30' })
    const id = ctl.find('red').id
    const before = JSON.stringify(await ctl.listNetworks())
    const results = await Promise.all([
      ovnet(['network', 'inspect', 'blue'], { socket }),
      ovnet(['network', 'rm', 'blue'], { socket }),
      ovnet(['attach', 'blue', '--netns', 'c1'], { socket }),
      ovnet(['network', 'create', 'red'], { socket }),
      ovnet(['network', 'create', 'blue', '--subnet', '10.0.0.0/33'], { socket }),
      ovnet(['network', 'create', 'blue', '--subnet', '10.9.0.0/16'], { socket }),
      ovnet(['detach', 'red', '--netns', 'ghost'], { socket }),
      ovnet(['attach', 'red', '--netns', 'c1', '--ip', '10.9.0.300'], { socket }),
      ovnet(['ipam', 'reclaim', 'host-1'], { socket })
    ])
    failed(results[0], 1, 'network blue not found')
    failed(results[1], 1, 'network blue not found')
    failed(results[2], 1, 'network blue not found')
    failed(results[3], 1, 'network with name red already exists')
    failed(results[4], 1, 'invalid CIDR address: 10.0.0.0/33')
    failed(results[5], 1, 'Pool overlaps with other one on this address space')
    failed(results[6], 1, 'endpoint ghost not found')
    failed(results[7], 1, 'invalid IP address: 10.9.0.300')
    failed(results[8], 1, /^node host-1 is alive/)
    assert.equal(JSON.stringify(await ctl.listNetworks()), before)
    assert.equal(ctl.find('red').endpoints.size, 0)

    ok(await ovnet(['attach', 'red', '--netns', 'c1'], { socket }))
    failed(await ovnet(['attach', 'red', '--netns', 'c2'], { socket }), 1, 'no available addresses on this pool')
    failed(await ovnet(['network', 'rm', 'red'], { socket }), 1, `network red id ${id} has active endpoints`)
    assert.equal(ctl.networks.size, 1)
    assert.equal(ctl.find('red').endpoints.size, 1)
  })

  it('agent not running: a clear message and exit 3, for every kind of command', async () => {
    const nowhere = join(dir, 'nowhere.sock')
    const results = await Promise.all([
      ovnet(['cluster', 'members'], { socket: nowhere }),
      ovnet(['network', 'create', 'x'], { socket: nowhere }),
      ovnet(['events'], { socket: nowhere }),
      ovnet(['network', 'ls'], { env: { OVNET_SOCKET: nowhere } })
    ])
    for (const r of results) failed(r, 3, `cannot connect to the ovnet agent at ${nowhere}: is the agent running?`)
  })

  it('OVNET_SOCKET selects the agent; --socket wins over it', async () => {
    await ctl.createNetwork({ Name: 'red' })
    const [env, flag] = await Promise.all([
      ovnet(['network', 'ls', '--json'], { env: { OVNET_SOCKET: socket } }),
      ovnet(['network', 'ls', '--json', '--socket', socket], { env: { OVNET_SOCKET: join(dir, 'wrong.sock') } })
    ])
    assert.equal(parse<NetworkSummary[]>(ok(env))[0]?.Name, 'red')
    assert.equal(parse<NetworkSummary[]>(ok(flag))[0]?.Name, 'red')
  })

  it('usage errors exit 2 without calling the agent', async () => {
    const results = await Promise.all([
      ovnet(['network', 'create'], { socket }),
      ovnet(['network', 'create', 'x', '--vni', 'abc'], { socket }),
      ovnet(['network', 'create', 'x', '--opt', '=novalue'], { socket }),
      ovnet(['attach', 'red'], { socket }),
      ovnet(['cluster', 'members', '--bogus'], { socket }),
      ovnet(['frobnicate'], { socket })
    ])
    for (const r of results) assert.equal(r.code, 2, r.stderr)
    assert.match(results[0].stderr, /missing required argument 'name'/)
    assert.match(results[1].stderr, /not a whole number: "abc"/)
    assert.match(results[2].stderr, /--opt takes KEY=VALUE, got "=novalue"/)
    assert.match(results[3].stderr, /required option '--netns <name\|path>' not specified/)
    assert.match(results[4].stderr, /unknown option '--bogus'/)
    assert.equal(ctl.networks.size, 0)
  })

  it('events: streams until interrupted, then exits 0', async () => {
    const child = spawn(process.execPath, [OVNET_BIN, 'events', '--json', '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>(resolve => child.once('close', code => { resolve(code) }))
    try {
      await waitFor(() => ctl.subscribers === 1, 20_000)
      const { Id } = await ctl.createNetwork({ Name: 'red' })
      await waitFor(() => out.includes('\n'))
      const ev = parse<ControlEvent>(out.split('\n')[0]!)
      assert.deepEqual([ev.Type, ev.Action, ev.Actor.ID, ev.Actor.Attributes.name], ['network', 'create', Id, 'red'])
      child.kill('SIGINT')
      assert.equal(await exited, 0)
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('events: the agent going away ends the command with exit 1', async () => {
    const child = spawn(process.execPath, [OVNET_BIN, 'events', '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const exited = new Promise<number | null>(resolve => child.once('close', code => { resolve(code) }))
    try {
      await waitFor(() => ctl.subscribers === 1, 20_000)
      await server!.close()
      server = undefined
      assert.equal(await exited, 1)
      assert.equal(err, 'the agent closed the event stream\n')
    } finally {
      child.kill('SIGKILL')
    }
  })

  it('keygen writes a 0600 key once, version reports client and agent', async () => {
    const key = join(dir, 'k1')
    assert.equal(ok(await ovnet(['keygen', key])), `cluster key written to ${key}\n`)
    assert.equal((await stat(key)).mode & 0o777, 0o600)
    assert.match(await readFile(key, 'utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    failed(await ovnet(['keygen', key]), 1, /file already exists; refusing to overwrite/)

    const [up, down] = await Promise.all([
      ovnet(['version', '--json'], { socket }),
      ovnet(['version', '--json'], { socket: join(dir, 'none.sock') })
    ])
    assert.deepEqual(JSON.parse(ok(up)), { Client: { Version: '0.1.0' }, Agent: { Name: 'host-1', Version: '0.1.0' } })
    assert.deepEqual(JSON.parse(ok(down)), { Client: { Version: '0.1.0' }, Agent: null })
  })

  it('agent with a bad configuration: one line, exit 2, nothing started', async () => {
    const data = join(dir, 'agent-data')
    const sock = join(dir, 'agent.sock')
    const key = join(dir, 'k2')
    ok(await ovnet(['keygen', key]))
    const results = await Promise.all([
      ovnet(['agent', '--data-dir', data, '--socket', sock]),
      ovnet(['agent', '--data-dir', data, '--socket', sock, '--cluster-key', key, '--vxlan-port', '80']),
      ovnet(['agent', '--data-dir', data, '--socket', sock, '--cluster-key', key, '--bind', 'here'])
    ])
    failed(results[0], 2, /^invalid configuration: cluster-key: required/)
    failed(results[1], 2, 'invalid configuration: vxlan-port: must be an integer in 1024-49151, got "80"')
    failed(results[2], 2, 'invalid configuration: bind: expected ADDR:PORT, got "here"')
    for (const r of results) assert.equal(r.stdout, '', 'no log line: nothing started')
    await assert.rejects(stat(data), { code: 'ENOENT' })
    await assert.rejects(stat(sock), { code: 'ENOENT' })
  })
})
