/**
 * Hostile values on their way to iptables-restore and `ip -batch` lines of the egress room:
 * refused before any tool runs (stand-ins log what they are asked: test/capture-tools.ts), and,
 * one step earlier, a network or endpoint record with such values never decodes on any host: a
 * keyed host that writes a network whose subnet carries a second iptables rule gets nothing into
 * another host's egress view (real controller, in-memory cluster, recording egress port).
 */
import assert from 'node:assert/strict'
import {
  enableSandboxForwarding, ensureUplink, reconcileFirewall, removeUplinks, UnsafeEgressInputError,
  type EgressPort, type EgressView, type FirewallSpec, type IptablesRunner
} from '../../agent/egress/index.js'
import { OVERLAY_GLOBAL_NETWORK } from '../../overlay/index.js'
import {
  decodeEndpointRecord, decodeNetworkRecord, encodeEndpointRecord, encodeNetworkRecord, NETWORK_TABLE, WireError,
  type EndpointRecord, type NetworkRecord
} from '../../proto/index.js'
import { captureTools, HOSTILE, type CaptureTools } from '../capture-tools.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

const good: FirewallSpec = {
  overlaySubnets: ['10.1.0.0/24'],
  networks: [{
    subnet: '10.1.0.0/24',
    ports: [{ hostIp: '0.0.0.0', hostPort: 8080, ctrPort: 80, proto: 'tcp', ctrIp: '10.1.0.5' }]
  }]
}
const INJECT = '10.9.0.0/24 -j ACCEPT\n-A OVNET-FWD'

class RecordingIptables implements IptablesRunner {
  calls: string[] = []
  async save (table: 'filter' | 'nat'): Promise<string> { this.calls.push(`save ${table}`); return '' }
  async restore (batch: string): Promise<void> { this.calls.push(`restore ${batch}`) }
}

describe('egress: hostile values never reach an iptables or ip batch', function () {
  let t: CaptureTools
  let undo: () => void
  before(() => { t = captureTools(); undo = t.onPath() })
  after(() => { undo(); t.remove() })

  it('firewall: subnets, addresses, ports and protocols are checked before iptables-save runs', async () => {
    const ipt = new RecordingIptables()
    await reconcileFirewall(ipt, good)
    assert.equal(ipt.calls.length, 3, 'the good spec was saved twice and restored once')
    assert.match(ipt.calls[2]!, /-A OVNET-FWD -d 10\.1\.0\.0\/24 -i ovu\+ -j DROP/)
    const port = good.networks[0]!.ports[0]!
    const withPort = (over: Partial<typeof port>): FirewallSpec =>
      ({ ...good, networks: [{ subnet: '10.1.0.0/24', ports: [{ ...port, ...over }] }] })
    const bad: Array<[string, FirewallSpec]> = []
    for (const v of [...HOSTILE, INJECT, '10.0.0.0/33', '10.0.0.0', '300.0.0.0/8', 'fd00::/64']) {
      bad.push([`overlay subnet ${JSON.stringify(v)}`, { ...good, overlaySubnets: [v] }])
      bad.push([`network subnet ${JSON.stringify(v)}`, { ...good, networks: [{ subnet: v, ports: [] }] }])
    }
    for (const v of [...HOSTILE, INJECT, '10.0.0.1/32', '300.0.0.1', 'fd00::1', '010.0.0.1x']) {
      bad.push([`container IP ${JSON.stringify(v)}`, withPort({ ctrIp: v })])
      bad.push([`host IP ${JSON.stringify(v)}`, withPort({ hostIp: v })])
    }
    for (const p of [0, 65536, 1.5, Number.NaN]) bad.push([`port ${p}`, withPort({ hostPort: p })])
    bad.push(['protocol', withPort({ proto: 'tcp -j ACCEPT' as 'tcp' })])
    for (const [what, spec] of bad) {
      const rec = new RecordingIptables()
      await assert.rejects(reconcileFirewall(rec, spec), UnsafeEgressInputError, what)
      assert.deepEqual(rec.calls, [], `${what}: iptables ran`)
    }
  })

  it('uplinks: network id, sandbox name and subnet are checked before ip runs', async () => {
    t.clear()
    const uplink = async (nid: string, sandbox: string, subnet: string): Promise<unknown> =>
      await ensureUplink({ nid, sandbox, subnet }, undefined, [])
    await uplink('0123456789abcdef', 'ovnet-h1-0123456789ab', '10.1.0.0/24')
    assert.match(t.log(), /link add ovu0123456789ab type veth peer name uplink0 netns ovnet-h1-0123456789ab/)
    assert.match(t.log(), /route replace 10\.1\.0\.0\/24 via 169\.254\.1\.2 dev ovu0123456789ab onlink/)
    for (const v of [...HOSTILE.filter(x => x !== ''), INJECT]) {
      const s = JSON.stringify(v)
      const cases: Array<[string, () => Promise<unknown>]> = [
        [`nid ${s}`, async () => await uplink(v.slice(0, 12), 'ovnet-h1-x', '10.1.0.0/24')],
        [`sandbox ${s}`, async () => await uplink('abc', v, '10.1.0.0/24')],
        [`subnet ${s}`, async () => await uplink('abc', 'ovnet-h1-x', v)],
        [`forwarding ${s}`, async () => { await enableSandboxForwarding(v) }],
        [`remove ${s}`, async () => { await removeUplinks(['ovuabc', `ovu${v}`]) }]
      ]
      for (const [what, call] of cases) {
        // a harmless device name: a 12-char prefix of letters, digits, _ and -
        const harmless = /^[A-Za-z0-9_-]{1,12}$/.test(v.slice(0, 12))
        if ((what.startsWith('nid') || what.startsWith('remove')) && harmless) continue
        t.clear()
        await assert.rejects(call(), UnsafeEgressInputError, what)
        assert.equal(t.log(), '', `${what}: a tool ran`)
      }
    }
  })
})

describe('records with values that would break a batch line do not decode', () => {
  const net: NetworkRecord = {
    id: 'a'.repeat(64), name: 'n', created: 1, subnet: '10.0.0.0/24', gateway: '10.0.0.1', ipRange: '', vni: 4097,
    internal: false, attachable: true, options: {}, labels: {}
  }
  const ep: EndpointRecord = {
    nid: 'a'.repeat(64), eid: 'b'.repeat(64), name: 'c1', ip: '10.0.0.2/24', mac: '02:42:0a:00:00:02', node: 'h1',
    nodeId: 'p', vtep: '192.0.2.1'
  }
  it('network records: id, subnet, gateway, IP range', () => {
    assert.deepEqual(decodeNetworkRecord(encodeNetworkRecord(net)), net)
    for (const v of [...HOSTILE.filter(x => x.length < 60), INJECT]) {
      const overs = [
        { id: v }, { subnet: v }, { subnet: `10.0.0.0/24${v}` }, { gateway: `10.0.0.1${v}` },
        { ipRange: `10.0.0.0/25${v}` }
      ]
      for (const over of overs) {
        if (Object.values(over)[0] === '' || (over.id !== undefined && /^[A-Za-z0-9_-]+$/.test(v))) continue
        if (over.subnet === '10.0.0.0/24' || over.gateway === '10.0.0.1' || over.ipRange === '10.0.0.0/25') continue
        const rec = encodeNetworkRecord({ ...net, ...over })
        assert.throws(() => decodeNetworkRecord(rec), WireError, JSON.stringify(over))
      }
    }
    assert.throws(() => decodeNetworkRecord(encodeNetworkRecord({ ...net, subnet: 'fd00::/64' })), /IPv4/)
  })
  it('endpoint records: ids, address, MAC, VTEP', () => {
    assert.deepEqual(decodeEndpointRecord(encodeEndpointRecord(ep)), ep)
    for (const v of [...HOSTILE.filter(x => x !== '' && x.length < 60), INJECT]) {
      const overs = [
        { eid: `b${v}` }, { nid: `a${v}` }, { ip: `10.0.0.2/24${v}` }, { mac: `02:42:0a:00:00:02${v}` },
        { vtep: `192.0.2.1${v}` }
      ]
      for (const over of overs) {
        if ((over.eid !== undefined || over.nid !== undefined) && /^[A-Za-z0-9_-]+$/.test(v)) continue
        const rec = encodeEndpointRecord({ ...ep, ...over })
        assert.throws(() => decodeEndpointRecord(rec), WireError, JSON.stringify(over))
      }
    }
  })
})

class RecordingEgress implements EgressPort {
  views: EgressView[] = []
  async check (): Promise<void> {}
  async apply (view: EgressView): Promise<void> { this.views.push(structuredClone(view)) }
  async stop (): Promise<void> {}
}

describe('a keyed host\'s network record with an iptables rule in its subnet', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  after(async () => { await s?.close() })
  it('is not listed and never reaches another host\'s egress view', async () => {
    const eg = new RecordingEgress()
    s = await controllerStack(2, { egress: i => i === 1 ? eg : undefined })
    const k = s
    await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'web', Subnet: '10.70.0.0/24' }))
    await k.run(async () => await k.host(1).controller.attach('web', { Netns: 'c1' }))
    const applied = eg.views.length
    const evil = 'e'.repeat(64)
    const rec = encodeNetworkRecord({
      id: evil, name: 'evil', created: 1, subnet: INJECT, gateway: '', ipRange: '', vni: 4099, internal: false,
      attachable: true, options: {}, labels: {}
    })
    await k.run(async () => { await k.host(0).db.createEntry(NETWORK_TABLE, OVERLAY_GLOBAL_NETWORK, evil, rec) })
    await k.c.advance(3000)
    const replicated = k.host(1).db.getEntry(NETWORK_TABLE, OVERLAY_GLOBAL_NETWORK, evil)
    assert.ok(replicated !== undefined, 'the record did replicate')
    assert.deepEqual((await k.host(1).controller.listNetworks()).map(n => n.Name), ['web'])
    // a later apply (a new attach) still carries only the good subnet
    await k.run(async () => await k.host(1).controller.attach('web', { Netns: 'c2' }))
    assert.ok(eg.views.length > applied)
    for (const v of eg.views) assert.ok(!v.overlaySubnets.includes(INJECT), JSON.stringify(v.overlaySubnets))
    assert.deepEqual(eg.views[eg.views.length - 1]!.overlaySubnets, ['10.70.0.0/24'])
  })
})
