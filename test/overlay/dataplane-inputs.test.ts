/**
 * Hostile values at the Linux dataplane: every field that reaches an `ip`/`bridge` batch line, an
 * argv or a /run/netns path — namespace names, interface names, endpoint ids, MACs, IPs, CIDRs,
 * MTUs, VNIs, ports, owner tags — with a newline, a space, NUL, `..`, a leading `-`, a very long
 * value, ...: refused with DataplaneError('invalid') before any tool runs. The tools are stand-ins
 * that log what they are asked (test/capture-tools.ts): a refused call leaves the log empty, a good
 * call shows its batch lines (so the capture itself is checked), and no kernel is touched.
 */
import assert from 'node:assert/strict'
import { DataplaneError, type EndpointSpec, type PeerOp, type SandboxSpec } from '../../overlay/index.js'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'
import { captureTools, HOSTILE, type CaptureTools } from '../capture-tools.js'

const sandbox: SandboxSpec = { name: 'ovnet-h1-0123456789ab', vni: 4097, vtep: '192.0.2.1', dstPort: 4789, mtu: 1450, gateway: '10.0.0.1/24', owner: 'ovnet:h1:0123' }
const endpoint: EndpointSpec = { sandbox: sandbox.name, eid: 'abcdef0123456789', containerNetns: 'ctr1', ifName: 'eth0', mac: '02:42:0a:00:00:02', address: '10.0.0.2/24', gateway: '10.0.0.1', mtu: 1450 }

/** Values that break a line or a token wherever they sit (an owner tag or `abc..` as a device name is harmless). */
const BREAKING = HOSTILE.filter(v => v !== '' && /[\s\0;]|^.{201}|[^\x20-\x7e]/.test(v))

describe('dataplane: hostile values are refused before any batch line is written', function () {
  let t: CaptureTools
  let dp: LinuxDataplane
  before(() => {
    t = captureTools()
    dp = new LinuxDataplane({ ip: t.tool('ip'), bridge: t.tool('bridge'), nsenter: t.tool('nsenter') })
  })
  after(() => { t.remove() })
  beforeEach(() => { t.clear() })

  async function refused (what: string, call: () => Promise<unknown>): Promise<void> {
    t.clear()
    await assert.rejects(call(), (e: unknown) => e instanceof DataplaneError && e.code === 'invalid', what)
    assert.equal(t.log(), '', `${what}: a tool ran`)
  }

  it('the capture works: good values reach the stand-ins as batch lines', async () => {
    await dp.removeEndpoint(sandbox.name, endpoint.eid)
    assert.match(t.log(), /^ip \[-n\] \[ovnet-h1-0123456789ab\] \[-force\] \[-batch\] \[-\]\nlink del ve-abcdef012345\n$/)
    t.clear()
    await dp.apply(sandbox.name, [{ op: 'add', kind: 'fdb', mac: '02:42:0a:00:00:05', dst: '192.0.2.2' }, { op: 'add', kind: 'neigh', ip: '10.0.0.5', mac: '02:42:0a:00:00:05' }])
    assert.match(t.log(), /neigh replace 10\.0\.0\.5 lladdr 02:42:0a:00:00:05 dev vxlan0 nud permanent/)
    assert.match(t.log(), /fdb replace 02:42:0a:00:00:05 dev vxlan0 dst 192\.0\.2\.2 self permanent/)
  })

  it('sandbox specs: name, VTEP, gateway, owner tag, VNI, port, MTU', async () => {
    for (const v of HOSTILE) {
      await refused(`name ${JSON.stringify(v)}`, async () => { await dp.ensureSandbox({ ...sandbox, name: v }) })
      await refused(`removeSandbox ${JSON.stringify(v)}`, async () => { await dp.removeSandbox(v) })
      await refused(`vtep ${JSON.stringify(v)}`, async () => { await dp.ensureSandbox({ ...sandbox, vtep: v }) })
      if (v !== '') await refused(`gateway ${JSON.stringify(v)}`, async () => { await dp.ensureSandbox({ ...sandbox, gateway: `10.0.0.1/24${v}` }) })
      if (BREAKING.includes(v)) await refused(`owner ${JSON.stringify(v)}`, async () => { await dp.ensureSandbox({ ...sandbox, owner: `ovnet:${v}` }) })
    }
    await refused('a sandbox given as a path', async () => { await dp.ensureSandbox({ ...sandbox, name: '/run/netns/x' }) })
    await refused('gateway prefix /99', async () => { await dp.ensureSandbox({ ...sandbox, gateway: '10.0.0.1/99' }) })
    for (const vni of [0, -1, 2 ** 24, 1.5, Number.NaN]) await refused(`vni ${vni}`, async () => { await dp.ensureSandbox({ ...sandbox, vni }) })
    for (const p of [0, 65536, Number.NaN]) await refused(`port ${p}`, async () => { await dp.ensureSandbox({ ...sandbox, dstPort: p }) })
    for (const m of [0, 100, 70_000, Number.NaN]) await refused(`mtu ${m}`, async () => { await dp.ensureSandbox({ ...sandbox, mtu: m }) })
  })

  it('endpoints: sandbox, container namespace, interface name, endpoint id, MAC, address, gateway', async () => {
    for (const v of HOSTILE) {
      const s = JSON.stringify(v)
      await refused(`sandbox ${s}`, async () => { await dp.addEndpoint({ ...endpoint, sandbox: v }) })
      await refused(`ifName ${s}`, async () => { await dp.addEndpoint({ ...endpoint, ifName: v }) })
      if (v !== '') await refused(`mac ${s}`, async () => { await dp.addEndpoint({ ...endpoint, mac: `02:42:0a:00:00:02${v}` }) })
      if (v !== '') await refused(`address ${s}`, async () => { await dp.addEndpoint({ ...endpoint, address: `10.0.0.2/24${v}` }) })
      if (v !== '') await refused(`gateway ${s}`, async () => { await dp.addEndpoint({ ...endpoint, gateway: `10.0.0.1${v}` }) })
      await refused(`removeEndpoint sandbox ${s}`, async () => { await dp.removeEndpoint(v, endpoint.eid) })
      if (BREAKING.includes(v) && v.length < 100) await refused(`eid ${s}`, async () => { await dp.removeEndpoint(sandbox.name, `abc${v}`) })
      if (BREAKING.includes(v) && v.length < 100) await refused(`eid ${s} (add)`, async () => { await dp.addEndpoint({ ...endpoint, eid: `abc${v}` }) })
    }
    for (const v of ['a\nb', 'a b', 'x\0y', '../../etc/passwd', '/run/netns/../x', '-all', '']) {
      await refused(`container netns ${JSON.stringify(v)}`, async () => { await dp.addEndpoint({ ...endpoint, containerNetns: v }) })
    }
    await refused('address prefix /33', async () => { await dp.addEndpoint({ ...endpoint, address: '10.0.0.2/33' }) })
    await refused('ifName of 16 characters', async () => { await dp.addEndpoint({ ...endpoint, ifName: 'e'.repeat(16) }) })
  })

  it('FDB and neighbour ops: one bad op refuses the whole batch, no line of it is written', async () => {
    const good: PeerOp = { op: 'add', kind: 'fdb', mac: '02:42:0a:00:00:05', dst: '192.0.2.2' }
    for (const v of HOSTILE) {
      const s = JSON.stringify(v)
      if (v !== '') await refused(`fdb mac ${s}`, async () => { await dp.apply(sandbox.name, [good, { op: 'add', kind: 'fdb', mac: `02:42:0a:00:00:06${v}`, dst: '192.0.2.2' }]) })
      if (v !== '') await refused(`fdb dst ${s}`, async () => { await dp.apply(sandbox.name, [good, { op: 'add', kind: 'fdb', mac: '02:42:0a:00:00:06', dst: `192.0.2.2${v}` }]) })
      if (v !== '') await refused(`neigh ip ${s}`, async () => { await dp.apply(sandbox.name, [good, { op: 'del', kind: 'neigh', ip: `10.0.0.9${v}` }]) })
      await refused(`apply sandbox ${s}`, async () => { await dp.apply(v, [good]) })
      await refused(`readTables ${s}`, async () => { await dp.readTables(v) })
      if (v !== '') await refused(`underlayMtu ${s}`, async () => { await dp.underlayMtu(`192.0.2.1${v}`) })
    }
    // upper-case MACs are iproute2's too, but never ours: refused, not guessed at
    await refused('upper-case MAC', async () => { await dp.apply(sandbox.name, [{ op: 'del', kind: 'fdb', mac: '02:42:0A:00:00:06' }]) })
  })

  it('a host namespace option with a hostile value fails at construction', () => {
    for (const v of HOSTILE) {
      assert.throws(() => new LinuxDataplane({ hostNetns: v, ip: t.tool('ip') }), (e: unknown) => e instanceof DataplaneError && e.code === 'invalid', JSON.stringify(v))
    }
    assert.equal(t.log(), '')
  })
})
