/**
 * Handed-off endpoints (Docker's remote driver protocol): the driver leaves the container side of
 * the veth in the agent's namespace under the name the endpoint option gives, reports it as the
 * join's source name, and the runtime moves it. Memory dataplane first, then the Linux adapter on
 * real namespaces (root only).
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { decodePeerRecord, PEER_TABLE } from '../../proto/index.js'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import { HANDOFF_OPTION } from '../../overlay/driver.js'
import { InvalidJoinError, InvalidParameterError } from '../../overlay/driverapi.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import { createNet, NID, notify, rec, rig, SANDBOX } from './helpers.js'

const run = promisify(execFile)

describe('overlay driver: handed-off endpoints (memory dataplane)', () => {
  it('join leaves the interface for the runtime: source name, prefix "eth", gateway, peer entry', async () => {
    // No container namespace exists at all: a handed-off join must not need one.
    const dp = new MemoryDataplane({ containerNetns: new Set() })
    const { driver } = rig({}, dp)
    await createNet(driver)
    await driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.5/24' }), {})
    const j = new EndpointJoinInfo()
    await driver.join(NID, 'e1', '/var/run/docker/netns/abc', j, { [HANDOFF_OPTION]: 'dk-e1' }, {})
    assert.deepEqual(j.names, { srcName: 'dk-e1', dstPrefix: 'eth', dstName: '' })
    assert.equal(j.gateway, '10.0.0.1')
    assert.equal(j.tableEntries.length, 1)
    assert.deepEqual(decodePeerRecord(j.tableEntries[0]!.value), { endpointIP: '10.0.0.5/24', endpointMAC: '02:42:0a:00:00:05', tunnelEndpointIP: '192.0.2.1' })
    const ep = dp.sandboxes.get(SANDBOX)!.endpoints.get('e1')!
    assert.equal(ep.handoff, true)
    assert.equal(ep.ifName, 'dk-e1')
    assert.equal(ep.mac, '02:42:0a:00:00:05')
    assert.equal(driver.status().networks[0]!.endpoints[0]!.joined, true)
    await assert.rejects(driver.join(NID, 'e1', '', new EndpointJoinInfo(), { [HANDOFF_OPTION]: 'dk-e1' }, {}), InvalidJoinError)
    await driver.leave(NID, 'e1')
    assert.equal(dp.sandboxes.size, 0, 'the last leave removes the sandbox')
  })

  it('a handed-off join needs no sandbox key; an empty interface name or key without hand-off is refused', async () => {
    const { driver, dp } = rig()
    await createNet(driver)
    await driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.5/24' }), {})
    await assert.rejects(driver.join(NID, 'e1', '', new EndpointJoinInfo(), {}, {}), InvalidParameterError)
    await assert.rejects(driver.join(NID, 'e1', 'c1', new EndpointJoinInfo(), { [HANDOFF_OPTION]: '' }, {}), InvalidParameterError)
    assert.equal(dp.sandboxes.size, 0, 'refused joins build nothing')
    await driver.join(NID, 'e1', '', new EndpointJoinInfo(), { [HANDOFF_OPTION]: 'dk-e1' }, {})
    assert.equal(driver.status().networks[0]!.endpoints[0]!.containerNetns, undefined)
  })

  it('remote peers are programmed for handed-off endpoints exactly as for moved ones', async () => {
    const { driver, dp } = rig()
    await createNet(driver)
    notify(driver, 'r1', rec('10.0.0.9', '02:42:0a:00:00:09', '192.0.2.2'))
    await driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.5/24' }), {})
    await driver.join(NID, 'e1', '', new EndpointJoinInfo(), { [HANDOFF_OPTION]: 'dk-e1' }, {})
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { '02:42:0a:00:00:09': '192.0.2.2' })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.9': '02:42:0a:00:00:09' })
    // ...and the own endpoint's announcement is not programmed (it is on the bridge).
    driver.eventNotify(NID, PEER_TABLE, 'e1', undefined, rec('10.0.0.5', '02:42:0a:00:00:05', '192.0.2.1'))
    await driver.flush()
    assert.deepEqual(Object.keys(dp.fdbOf(SANDBOX)), ['02:42:0a:00:00:09'])
  })
})

describe('overlay Linux dataplane: handed-off endpoints on real namespaces', function () {
  this.timeout(60_000)
  const P = `oh${randomBytes(2).toString('hex')}`
  const HOST = `${P}h`
  const CTR = `${P}c`
  const SB = `ovnet-${P}-sb`
  const EID = `${randomBytes(6).toString('hex')}ffff`
  const KEY = EID.slice(0, 12)
  const DEV = `dk-${KEY}`
  const MAC = '02:42:0a:d5:00:05'
  let dp: LinuxDataplane

  interface Link { ifname: string, ifindex: number, address?: string, mtu?: number, master?: string, operstate?: string, addr_info?: Array<{ family: string }> }
  const links = async (ns: string): Promise<Link[]> => JSON.parse((await run('ip', ['-n', ns, '-json', 'addr', 'show'])).stdout || '[]') as Link[]
  const spec = { sandbox: SB, eid: EID, containerNetns: '', ifName: DEV, mac: MAC, address: '10.213.0.5/24', gateway: '10.213.0.1', mtu: 1450, handoff: true }

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    await run('ip', ['netns', 'add', HOST])
    await run('ip', ['netns', 'add', CTR])
    dp = new LinuxDataplane({ hostNetns: HOST })
    await dp.ensureSandbox({ name: SB, vni: 4000 + Math.floor(Math.random() * 1000), vtep: '198.51.100.1', dstPort: 4789, mtu: 1450, gateway: '10.213.0.1/24' })
  })
  after(async () => {
    for (const ns of [SB, CTR, HOST]) await run('ip', ['netns', 'del', ns]).catch(() => {})
  })

  it('leaves the container side in the host namespace (MAC, MTU, no address), the host side on br0', async () => {
    await dp.addEndpoint(spec)
    const dev = (await links(HOST)).find(l => l.ifname === DEV)
    assert.ok(dev !== undefined, 'the container side is in the host namespace')
    assert.equal(dev.address, MAC)
    assert.equal(dev.mtu, 1450)
    assert.deepEqual((dev.addr_info ?? []).filter(a => a.family === 'inet'), [], 'no address: the runtime configures it')
    const side = (await links(SB)).find(l => l.ifname === `ve-${KEY}`)
    assert.equal(side?.master, 'br0')
    assert.equal(side?.mtu, 1450)
  })

  it('a second add (agent restart) adopts the pair even once the runtime moved its side away', async () => {
    // What Docker does with SrcName: move it into the container and rename it.
    await run('ip', ['-n', HOST, 'link', 'set', DEV, 'netns', CTR])
    await run('ip', ['-n', CTR, 'link', 'set', DEV, 'name', 'eth0'])
    const before = (await links(CTR)).find(l => l.ifname === 'eth0')!.ifindex
    await dp.addEndpoint(spec)
    const eth0 = (await links(CTR)).find(l => l.ifname === 'eth0')
    assert.equal(eth0?.ifindex, before, 'the container kept its interface')
    assert.equal((await links(HOST)).some(l => l.ifname === DEV), false, 'no second pair was made')
  })

  it('removeEndpoint takes the pair away wherever its other side is', async () => {
    await dp.removeEndpoint(SB, EID)
    assert.equal((await links(CTR)).some(l => l.ifname === 'eth0'), false)
    assert.equal((await links(SB)).some(l => l.ifname === `ve-${KEY}`), false)
  })

  it('a foreign device holding the name makes the add fail and is left alone', async () => {
    await run('ip', ['-n', HOST, 'link', 'add', DEV, 'type', 'veth', 'peer', 'name', `${P}x`])
    const ifindex = (await links(HOST)).find(l => l.ifname === DEV)!.ifindex
    await assert.rejects(dp.addEndpoint(spec), /File exists|exists/)
    assert.equal((await links(HOST)).find(l => l.ifname === DEV)?.ifindex, ifindex)
    assert.equal((await links(SB)).some(l => l.ifname === `ve-${KEY}`), false, 'nothing half-made in the sandbox')
  })
})
