/**
 * The Docker remote plugin's protocols, endpoint by endpoint, against the real plugin server and
 * the real controller of a 2-host in-memory cluster: good calls in the order dockerd makes them,
 * and bad JSON, missing fields, unknown ids and unknown paths, each answered `{"Err"}` with a
 * non-2xx status and leaving the plugin's state, the networks and the IPAM as they were.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PLUGIN_CONTENT_TYPE, PLUGIN_STATE_FILE } from '../../agent/docker-plugin/index.js'
import { call, err, ok, pluginStack, type PluginStack } from './stack.js'
import { until as waitUntil } from '../agent/helpers.js'

const GATEWAY = { RequestAddressType: 'com.docker.network.gateway' }
const eid = (n: number): string => n.toString(16).padStart(64, 'e')
const dockerNet = (n: number): string => n.toString(16).padStart(64, 'd')
const withName = (name: string): Record<string, unknown> => ({ 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'ovnet.network': name } })

const until = async (what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> => { await waitUntil(what, fn, timeoutMs, 20) }

describe('docker plugin: protocol (in-memory 2-host cluster, real controller)', function () {
  this.timeout(60_000)
  let s: PluginStack
  const sock = (i: number): string => s.hosts[i]!.socket
  const stateText = async (i: number): Promise<string> => await readFile(join(s.hosts[i]!.dataDir, PLUGIN_STATE_FILE), 'utf8').catch(() => '')
  const networkNames = async (i: number): Promise<string[]> => (await s.hosts[i]!.controller.listNetworks()).map(n => n.Name)
  const inUse = async (i: number, subnet: string): Promise<number> => (await s.hosts[i]!.controller.ipamStatus()).Pools.find(p => p.Subnet === subnet)?.IPsInUse ?? 0

  /** Every rejected call below must leave the plugin state file and the cluster's networks unchanged. */
  async function unchanged (i: number, calls: () => Promise<void>): Promise<void> {
    const before = [await stateText(i), JSON.stringify(await networkNames(i))]
    await calls()
    assert.deepEqual([await stateText(i), JSON.stringify(await networkNames(i))], before, 'a rejected call changed something')
  }

  before(async () => { s = await pluginStack(2) })
  after(async () => { await s?.close() })

  it('Plugin.Activate, capabilities and address spaces; the content type; 404 and 405', async () => {
    const a = await call(sock(0), '/Plugin.Activate')
    assert.equal(a.status, 200)
    assert.equal(a.type, PLUGIN_CONTENT_TYPE)
    assert.deepEqual(a.body, { Implements: ['NetworkDriver', 'IpamDriver'] })
    assert.deepEqual(await ok(sock(0), '/IpamDriver.GetCapabilities'), { RequiresMACAddress: false, RequiresRequestReplay: false })
    assert.deepEqual(await ok(sock(0), '/IpamDriver.GetDefaultAddressSpaces'), { LocalDefaultAddressSpace: 'LocalDefault', GlobalDefaultAddressSpace: 'GlobalDefault' })
    assert.deepEqual(await ok(sock(0), '/NetworkDriver.GetCapabilities'), { Scope: 'local', ConnectivityScope: 'global' })
    const missing = await call(sock(0), '/NetworkDriver.Frobnicate', {})
    assert.equal(missing.status, 404)
    assert.equal(missing.type, PLUGIN_CONTENT_TYPE)
    assert.match((missing.body as { Err: string }).Err, /unknown endpoint/)
    assert.equal((await call(sock(0), '/Plugin.Activate', undefined, 'GET')).status, 405)
  })

  it('a cluster network from two hosts: one pool, one gateway, distinct addresses, endpoints joined and published', async () => {
    // host 0: docker network create ... --subnet 10.50.0.0/24 blue
    const p0 = await ok<{ PoolID: string, Pool: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.50.0.0/24', SubPool: '', Options: { 'ovnet.network': 'blue' }, V6: false })
    assert.equal(p0.Pool, '10.50.0.0/24')
    assert.match(p0.PoolID, /^ovnet:/)
    assert.deepEqual(await networkNames(0), ['blue'])
    const gw0 = await ok(sock(0), '/IpamDriver.RequestAddress', { PoolID: p0.PoolID, Address: '', Options: GATEWAY })
    assert.deepEqual(gw0, { Address: '10.50.0.1/24', Data: {} })
    await ok(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(1), Options: withName('blue'), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.50.0.0/24', Gateway: '10.50.0.1/24' }], IPv6Data: [] })

    // host 1: the same command, once the definition has arrived (dockerd would wait too: see below)
    await until('host 1 knows blue', async () => (await networkNames(1)).includes('blue'))
    const p1 = await ok<{ PoolID: string, Pool: string }>(sock(1), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.50.0.0/24', Options: { 'ovnet.network': 'blue' }, V6: false })
    assert.equal(p1.Pool, '10.50.0.0/24')
    assert.notEqual(p1.PoolID, p0.PoolID)
    assert.deepEqual(await networkNames(1), ['blue'], 'no second cluster network')
    assert.deepEqual(await ok(sock(1), '/IpamDriver.RequestAddress', { PoolID: p1.PoolID, Address: '', Options: GATEWAY }), { Address: '10.50.0.1/24', Data: {} })
    await ok(sock(1), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(2), Options: withName('blue'), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.50.0.0/24', Gateway: '10.50.0.1/24' }], IPv6Data: [] })

    // addresses: distinct across hosts
    const addrs: string[] = []
    for (const [i, pool] of [[0, p0.PoolID], [1, p1.PoolID], [0, p0.PoolID], [1, p1.PoolID]] as const) {
      addrs.push((await ok<{ Address: string }>(sock(i), '/IpamDriver.RequestAddress', { PoolID: pool, Address: '', Options: null })).Address)
    }
    assert.equal(new Set(addrs).size, 4, `distinct: ${addrs.join(' ')}`)
    assert.ok(addrs.every(a => /^10\.50\.0\.\d+\/24$/.test(a) && a !== '10.50.0.1/24'))

    // endpoints: CreateEndpoint (Docker supplies the address, not the MAC) and Join
    const ce = await ok(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(1), Interface: { Address: addrs[0], AddressIPv6: '', MacAddress: '' }, Options: { 'com.docker.network.endpoint.exposedports': [] } })
    const mac0 = `02:42:0a:32:00:${Number(addrs[0]!.split('/')[0]!.split('.')[3]).toString(16).padStart(2, '0')}`
    assert.deepEqual(ce, { Interface: { MacAddress: mac0 } })
    // a MAC Docker supplied is not echoed back (Docker refuses a reply that changes it)
    assert.deepEqual(await ok(sock(1), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(2), EndpointID: eid(2), Interface: { Address: addrs[1], MacAddress: '02:AA:00:00:00:02' } }), { Interface: {} })

    const j0 = await ok(sock(0), '/NetworkDriver.Join', { NetworkID: dockerNet(1), EndpointID: eid(1), SandboxKey: '/var/run/docker/netns/x1', Options: {} })
    assert.deepEqual(j0, { InterfaceName: { SrcName: `dk-${eid(1).slice(0, 12)}`, DstPrefix: 'eth' }, Gateway: '10.50.0.1', StaticRoutes: [], DisableGatewayService: false })
    await ok(sock(1), '/NetworkDriver.Join', { NetworkID: dockerNet(2), EndpointID: eid(2), SandboxKey: '/var/run/docker/netns/x2' })
    await ok(sock(0), '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: dockerNet(1), EndpointID: eid(1), Options: {} })

    // the veth is handed off (memory dataplane), and the endpoint published like an attach
    const blue = s.hosts[0]!.controller.findNetwork('blue')!
    const sandbox = [...s.hosts[0]!.dp.sandboxes.values()][0]!
    const ep = sandbox.endpoints.get(eid(1).slice(0, 12))!
    assert.equal(ep.handoff, true)
    assert.equal(ep.ifName, `dk-${eid(1).slice(0, 12)}`)
    assert.equal(ep.mac, mac0)
    await until('both endpoints visible and programmed on both hosts', async () => {
      for (const i of [0, 1]) {
        const v = await s.hosts[i]!.controller.inspectNetwork('blue', true)
        if (v.Endpoints?.length !== 2 || !v.Endpoints.every(e => e.Programmed)) return false
      }
      return true
    })
    const v1 = await s.hosts[1]!.controller.inspectNetwork(blue.id, true)
    assert.deepEqual(v1.Endpoints!.map(e => [e.EndpointID, e.EndpointIP, e.MacAddress, e.Node]).sort(), [
      [eid(1), addrs[0]!.split('/')[0], mac0, 'node-00'],
      [eid(2), addrs[1]!.split('/')[0], '02:aa:00:00:00:02', 'node-01']
    ].sort())
    assert.deepEqual(Object.keys(v1.Containers), [eid(2)], 'Containers lists this host\'s endpoint')
    const info = await ok<{ Value: Record<string, unknown> }>(sock(0), '/NetworkDriver.EndpointOperInfo', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    assert.deepEqual(info.Value, { 'com.docker.network.endpoint.macaddress': mac0, 'ovnet.network': 'blue', 'ovnet.joined': true })

    // wrong and unknown ids, while the endpoints exist
    await unchanged(0, async () => {
      assert.equal((await err(sock(0), '/NetworkDriver.Join', { NetworkID: dockerNet(1), EndpointID: eid(1), SandboxKey: 'k' })).status, 400, 'second join')
      assert.equal((await err(sock(0), '/NetworkDriver.Join', { NetworkID: dockerNet(1), EndpointID: eid(9), SandboxKey: 'k' })).status, 404)
      assert.equal((await err(sock(0), '/NetworkDriver.Join', { NetworkID: dockerNet(2), EndpointID: eid(1), SandboxKey: 'k' })).status, 404, 'host 0 does not know host 1\'s docker network')
      await err(sock(0), '/NetworkDriver.Join', { NetworkID: dockerNet(1), EndpointID: eid(1) })
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(1), Interface: { Address: addrs[2] } })
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(3), Interface: { Address: '10.99.0.5/24' } })
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(3), Interface: { Address: '' } })
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(3), Interface: { Address: addrs[2], MacAddress: 'nope' } })
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(9), EndpointID: eid(3), Interface: { Address: addrs[2] } })
      await err(sock(0), '/NetworkDriver.EndpointOperInfo', { NetworkID: dockerNet(1), EndpointID: eid(9) })
      await err(sock(0), '/NetworkDriver.ProgramExternalConnectivity', { NetworkID: dockerNet(1), EndpointID: eid(9) })
      await err(sock(0), '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: dockerNet(9), EndpointID: eid(1) })
      await err(sock(0), '/NetworkDriver.DeleteNetwork', { NetworkID: dockerNet(1) }) // has an endpoint
      assert.match((await err(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: p0.PoolID, Address: addrs[0]!.split('/')[0] })).message, /in use/)
      await err(sock(0), '/IpamDriver.RequestAddress', { PoolID: p0.PoolID, Address: '10.50.0.7', Options: GATEWAY }) // not the network's gateway
      await err(sock(0), '/IpamDriver.RequestAddress', { PoolID: p0.PoolID, Address: addrs[1]!.split('/')[0] }) // host 1 holds it
    })
    assert.equal(await inUse(0, '10.50.0.0/24'), 5, 'gateway + 4 addresses')

    // removal, in Docker's order: Revoke, Leave, DeleteEndpoint, ReleaseAddress; then the network
    await ok(sock(0), '/NetworkDriver.RevokeExternalConnectivity', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    await ok(sock(0), '/NetworkDriver.Leave', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    assert.equal(sandbox.endpoints.size, 0)
    await ok(sock(0), '/NetworkDriver.Leave', { NetworkID: dockerNet(1), EndpointID: eid(1) }) // known, no longer joined: nothing to do
    await ok(sock(0), '/NetworkDriver.DeleteEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    await err(sock(0), '/NetworkDriver.DeleteEndpoint', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    await err(sock(0), '/NetworkDriver.Leave', { NetworkID: dockerNet(1), EndpointID: eid(1) })
    await ok(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: p0.PoolID, Address: addrs[0]!.split('/')[0] })
    await ok(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: p0.PoolID, Address: addrs[2]!.split('/')[0] })
    await until('host 1 sees the endpoint gone', async () => (await s.hosts[1]!.controller.inspectNetwork('blue', true)).Endpoints!.length === 1)
    assert.equal(await inUse(0, '10.50.0.0/24'), 3)
    // network rm on host 0: the gateway stays the network's, the pool id goes, the cluster network stays
    await ok(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: p0.PoolID, Address: '10.50.0.1' })
    await ok(sock(0), '/IpamDriver.ReleasePool', { PoolID: p0.PoolID })
    await ok(sock(0), '/NetworkDriver.DeleteNetwork', { NetworkID: dockerNet(1) })
    await err(sock(0), '/NetworkDriver.DeleteNetwork', { NetworkID: dockerNet(1) })
    await err(sock(0), '/IpamDriver.ReleasePool', { PoolID: p0.PoolID })
    await err(sock(0), '/IpamDriver.RequestAddress', { PoolID: p0.PoolID })
    assert.deepEqual(await networkNames(0), ['blue'], 'the cluster network outlives one host\'s docker network')
    assert.equal((await s.hosts[1]!.controller.inspectNetwork('blue', false)).Containers[eid(2)]?.IPv4Address, addrs[1])
  })

  it('bad JSON, missing fields and wrong types: {Err} with 400, nothing changed', async () => {
    await unchanged(0, async () => {
      for (const path of ['/IpamDriver.RequestPool', '/IpamDriver.RequestAddress', '/IpamDriver.ReleaseAddress', '/IpamDriver.ReleasePool',
        '/NetworkDriver.CreateNetwork', '/NetworkDriver.DeleteNetwork', '/NetworkDriver.CreateEndpoint', '/NetworkDriver.Join', '/NetworkDriver.Leave',
        '/NetworkDriver.DeleteEndpoint', '/NetworkDriver.EndpointOperInfo', '/NetworkDriver.DiscoverNew', '/NetworkDriver.DiscoverDelete',
        '/NetworkDriver.AllocateNetwork', '/NetworkDriver.FreeNetwork', '/NetworkDriver.ProgramExternalConnectivity', '/NetworkDriver.RevokeExternalConnectivity']) {
        for (const body of ['{"PoolID": ', 'null', '', '[]', {}]) {
          const r = await err(sock(0), path, body)
          assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}: ${r.message}`)
        }
      }
      assert.match((await err(sock(0), '/IpamDriver.RequestPool', '{"AddressSpace": ')).message, /invalid JSON/)
      assert.match((await err(sock(0), '/IpamDriver.RequestPool', { Pool: '10.1.0.0/24' })).message, /AddressSpace/)
      assert.match((await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Options: { 'ovnet.network': 7 } })).message, /Options/)
      assert.match((await err(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: 'x', Address: '10.1.2' })).message, /invalid IP address/)
      await err(sock(0), '/NetworkDriver.CreateEndpoint', { NetworkID: dockerNet(1), EndpointID: '', Interface: {} })
      await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(7), IPv4Data: 'x' })
    })
  })

  it('unknown ids and impossible networks: {Err}, nothing changed', async () => {
    await unchanged(0, async () => {
      assert.equal((await err(sock(0), '/IpamDriver.ReleasePool', { PoolID: 'ovnet:nope:1' })).status, 404)
      assert.equal((await err(sock(0), '/IpamDriver.ReleasePool', { PoolID: 'GlobalDefault/10.9.9.0/24' })).status, 404)
      await err(sock(0), '/IpamDriver.RequestAddress', { PoolID: 'ovnet:nope:1' })
      await err(sock(0), '/IpamDriver.RequestAddress', { PoolID: 'LocalDefault/172.31.0.0/16' })
      await err(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: 'ovnet:nope:1', Address: '10.0.0.2' })
      await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'Elsewhere' })
      await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.50.0.0/25', Options: { 'ovnet.network': 'blue' } }) // blue has /24
      await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.70.0.0/24', Options: { 'ovnet.network': 'v6' }, V6: true })
      await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', SubPool: '10.70.0.0/25', Options: { 'ovnet.network': 'x' } })
      await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: withName('nosuch'), IPv4Data: [{ Pool: '10.71.0.0/24' }] })
      await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: withName('blue'), IPv4Data: [{ Pool: '172.18.0.0/16' }] })
      // the right subnet, but host 0 holds no pool of blue any more: Docker's own IPAM gave it
      assert.match((await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: withName('blue'), IPv4Data: [{ Pool: '10.50.0.0/24' }] })).message, /--ipam-driver ovnet/)
      await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: withName('blue'), IPv4Data: [{ Pool: '10.50.0.0/24' }], IPv6Data: [{ Pool: 'fd00::/64' }] })
      await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: {}, IPv4Data: [{ Pool: '10.72.0.0/24' }] })
      // -o encrypted on a plain cluster network; --ipam-opt encrypted where this host cannot encrypt
      const encryptedBlue = { 'com.docker.network.generic': { 'ovnet.network': 'blue', encrypted: '' } }
      assert.match((await err(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(5), Options: encryptedBlue, IPv4Data: [{ Pool: '10.50.0.0/24' }] })).message, /blue is not encrypted/)
      assert.match((await err(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.73.0.0/24', Options: { 'ovnet.network': 'secret', encrypted: '' } })).message, /encrypted networks are not available/)
      await err(sock(0), '/NetworkDriver.FreeNetwork', { NetworkID: dockerNet(5) })
    })
    // a docker network created twice with the same id
    await ok(sock(1), '/NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '198.18.0.12', self: true } })
    await ok(sock(1), '/NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: null })
    await unchanged(1, async () => { await err(sock(1), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(2), Options: withName('blue'), IPv4Data: [{ Pool: '10.50.0.0/24' }] }) })
    assert.deepEqual(await ok(sock(1), '/NetworkDriver.AllocateNetwork', { NetworkID: dockerNet(6), Options: {}, IPv4Data: [], IPv6Data: [] }), { Options: {} })
    await ok(sock(1), '/NetworkDriver.FreeNetwork', { NetworkID: dockerNet(6) })
  })

  it('without ovnet.network the cluster IPAM answers directly; a held pool is never handed out twice', async () => {
    const a = await ok<{ PoolID: string, Pool: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '', SubPool: '', Options: {}, V6: false })
    // Docker asks again while holding `a` when `a` overlaps a route of its host
    const b = await ok<{ PoolID: string, Pool: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '', SubPool: '', Options: {}, V6: false })
    assert.notEqual(a.Pool, b.Pool)
    await ok(sock(0), '/IpamDriver.ReleasePool', { PoolID: a.PoolID })
    const gw = await ok<{ Address: string }>(sock(0), '/IpamDriver.RequestAddress', { PoolID: b.PoolID, Address: '', Options: GATEWAY })
    const x = await ok<{ Address: string }>(sock(0), '/IpamDriver.RequestAddress', { PoolID: b.PoolID, Address: '', Options: null })
    assert.notEqual(gw.Address, x.Address)
    await ok(sock(0), '/IpamDriver.ReleaseAddress', { PoolID: b.PoolID, Address: x.Address.split('/')[0] })
    await ok(sock(0), '/IpamDriver.ReleasePool', { PoolID: b.PoolID })
    await err(sock(0), '/IpamDriver.ReleasePool', { PoolID: b.PoolID })
  })

  it('a dynamic cluster pool Docker turns down (host route overlap) is replaced; an existing one is refused', async () => {
    const first = await ok<{ PoolID: string, Pool: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '', Options: { 'ovnet.network': 'green' }, V6: false })
    const second = await ok<{ PoolID: string, Pool: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '', Options: { 'ovnet.network': 'green' }, V6: false })
    assert.notEqual(second.Pool, first.Pool)
    await ok(sock(0), '/IpamDriver.ReleasePool', { PoolID: first.PoolID }) // Docker's deferred release of the first
    const green = s.hosts[0]!.controller.findNetwork('green')!
    assert.equal(green.subnet, second.Pool)
    await ok(sock(0), '/IpamDriver.RequestAddress', { PoolID: second.PoolID, Options: GATEWAY })
    await ok(sock(0), '/NetworkDriver.CreateNetwork', { NetworkID: dockerNet(10), Options: withName('green'), IPv4Data: [{ Pool: second.Pool }] })
    // host 1 joins green dynamically; asking again means its routes overlap a pool it cannot move
    await until('host 1 knows green', () => s.hosts[1]!.controller.findNetwork('green') !== undefined)
    const h1 = await ok<{ PoolID: string, Pool: string }>(sock(1), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Options: { 'ovnet.network': 'green' } })
    assert.equal(h1.Pool, second.Pool)
    assert.match((await err(sock(1), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Options: { 'ovnet.network': 'green' } })).message, /overlaps a route of this host/)
    await ok(sock(1), '/IpamDriver.ReleasePool', { PoolID: h1.PoolID })
    assert.ok(s.hosts[1]!.controller.findNetwork('green') !== undefined, 'releasing a pool it did not create leaves the network')
  })

  it('both hosts create the same network at once: one cluster network, the same pool for both', async () => {
    const req = { AddressSpace: 'LocalDefault', Pool: '10.90.0.0/24', Options: { 'ovnet.network': 'red' }, V6: false }
    const [a, b] = await Promise.all([ok<{ Pool: string }>(sock(0), '/IpamDriver.RequestPool', req), ok<{ Pool: string }>(sock(1), '/IpamDriver.RequestPool', req)])
    assert.equal(a.Pool, '10.90.0.0/24')
    assert.equal(b.Pool, '10.90.0.0/24')
    await until('both hosts agree on red', () => s.hosts.every(h => h.controller.findNetwork('red') !== undefined))
    assert.equal(s.hosts[0]!.controller.findNetwork('red')!.id, s.hosts[1]!.controller.findNetwork('red')!.id)
    assert.equal((await networkNames(1)).filter(n => n === 'red').length, 1)
  })

  it('a failed docker network create rolls back the cluster network it created', async () => {
    const p = await ok<{ PoolID: string }>(sock(0), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.80.0.0/24', Options: { 'ovnet.network': 'brief' } })
    assert.ok((await networkNames(0)).includes('brief'))
    await ok(sock(0), '/IpamDriver.ReleasePool', { PoolID: p.PoolID })
    await until('brief removed', async () => !(await networkNames(0)).includes('brief'))
  })

  it('the plugin state survives a restart: networks, endpoints and pools are still known', async () => {
    const p = await ok<{ PoolID: string }>(sock(1), '/IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.50.0.0/24', Options: { 'ovnet.network': 'blue' } })
    await s.restartPlugin(1)
    const info = await ok<{ Value: Record<string, unknown> }>(sock(1), '/NetworkDriver.EndpointOperInfo', { NetworkID: dockerNet(2), EndpointID: eid(2) })
    assert.equal(info.Value['ovnet.joined'], true)
    const a = await ok<{ Address: string }>(sock(1), '/IpamDriver.RequestAddress', { PoolID: p.PoolID })
    await ok(sock(1), '/IpamDriver.ReleaseAddress', { PoolID: p.PoolID, Address: a.Address.split('/')[0] })
    await ok(sock(1), '/IpamDriver.ReleasePool', { PoolID: p.PoolID })
    // and host 1's endpoint leaves cleanly after the restart
    await ok(sock(1), '/NetworkDriver.Leave', { NetworkID: dockerNet(2), EndpointID: eid(2) })
    await ok(sock(1), '/NetworkDriver.DeleteEndpoint', { NetworkID: dockerNet(2), EndpointID: eid(2) })
    assert.equal(s.hosts[1]!.controller.localEndpoint(eid(2)), undefined)
  })
})
