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

const sandbox: SandboxSpec = {
  name: 'ovnet-h1-0123456789ab', vni: 4097, vtep: '192.0.2.1', dstPort: 4789, mtu: 1450, gateway: '10.0.0.1/24',
  owner: 'ovnet:h1:0123'
}
const endpoint: EndpointSpec = {
  sandbox: sandbox.name, eid: 'abcdef0123456789', containerNetns: 'ctr1', ifName: 'eth0', mac: '02:42:0a:00:00:02',
  address: '10.0.0.2/24', gateway: '10.0.0.1', mtu: 1450
}
const MAC5 = '02:42:0a:00:00:05'

/** Values that break a line or a token wherever they sit (an owner tag or `abc..` as a device name is harmless). */
const BREAKING = HOSTILE.filter(v => v !== '' && /[\s\0;]|^.{201}|[^\x20-\x7e]/.test(v))
/** Appended to a good value: everything but the empty string changes it. */
const APPENDED = HOSTILE.filter(v => v !== '')

describe('dataplane: hostile values are refused before any batch line is written', function () {
  let t: CaptureTools
  let dp: LinuxDataplane
  before(() => {
    t = captureTools()
    dp = new LinuxDataplane({ ip: t.tool('ip'), bridge: t.tool('bridge'), nsenter: t.tool('nsenter'), persistent: false })
  })
  after(() => { t.remove() })
  beforeEach(() => { t.clear() })

  async function refused (what: string, call: () => Promise<unknown>): Promise<void> {
    t.clear()
    await assert.rejects(call(), (e: unknown) => e instanceof DataplaneError && e.code === 'invalid', what)
    assert.equal(t.log(), '', `${what}: a tool ran`)
  }
  const ensure = (o: Partial<SandboxSpec>) => async (): Promise<void> => {
    await dp.ensureSandbox({ ...sandbox, ...o })
  }
  const add = (o: Partial<EndpointSpec>) => async (): Promise<void> => { await dp.addEndpoint({ ...endpoint, ...o }) }
  const apply = (ops: PeerOp[], sb = sandbox.name) => async (): Promise<void> => { await dp.apply(sb, ops) }
  const q = (v: string): string => JSON.stringify(v)

  it('the capture works: good values reach the stand-ins as batch lines', async () => {
    await dp.removeEndpoint(sandbox.name, endpoint.eid)
    const argv = 'ip [-n] [ovnet-h1-0123456789ab] [-force] [-batch] [-]'
    assert.equal(t.log(), `${argv}\nlink del ve-abcdef012345\n`)
    t.clear()
    await apply([
      { op: 'add', kind: 'fdb', mac: MAC5, dst: '192.0.2.2' },
      { op: 'add', kind: 'neigh', ip: '10.0.0.5', mac: MAC5 }
    ])()
    assert.match(t.log(), /neigh replace 10\.0\.0\.5 lladdr 02:42:0a:00:00:05 dev vxlan0 nud permanent/)
    assert.match(t.log(), /fdb replace 02:42:0a:00:00:05 dev vxlan0 dst 192\.0\.2\.2 self permanent/)
  })

  it('sandbox specs: name, VTEP, gateway, owner tag, VNI, port, MTU', async () => {
    for (const v of HOSTILE) {
      await refused(`name ${q(v)}`, ensure({ name: v }))
      await refused(`removeSandbox ${q(v)}`, async () => { await dp.removeSandbox(v) })
      await refused(`vtep ${q(v)}`, ensure({ vtep: v }))
    }
    for (const v of APPENDED) await refused(`gateway ${q(v)}`, ensure({ gateway: `10.0.0.1/24${v}` }))
    for (const v of BREAKING) await refused(`owner ${q(v)}`, ensure({ owner: `ovnet:${v}` }))
    await refused('a sandbox given as a path', ensure({ name: '/run/netns/x' }))
    await refused('gateway prefix /99', ensure({ gateway: '10.0.0.1/99' }))
    for (const vni of [0, -1, 2 ** 24, 1.5, Number.NaN]) await refused(`vni ${vni}`, ensure({ vni }))
    for (const p of [0, 65536, Number.NaN]) await refused(`port ${p}`, ensure({ dstPort: p }))
    for (const m of [0, 100, 70_000, Number.NaN]) await refused(`mtu ${m}`, ensure({ mtu: m }))
  })

  it('endpoints: sandbox, container namespace, interface name, endpoint id, MAC, address, gateway', async () => {
    for (const v of HOSTILE) {
      await refused(`sandbox ${q(v)}`, add({ sandbox: v }))
      await refused(`ifName ${q(v)}`, add({ ifName: v }))
      await refused(`removeEndpoint sandbox ${q(v)}`, async () => { await dp.removeEndpoint(v, endpoint.eid) })
    }
    for (const v of APPENDED) {
      await refused(`mac ${q(v)}`, add({ mac: `02:42:0a:00:00:02${v}` }))
      await refused(`address ${q(v)}`, add({ address: `10.0.0.2/24${v}` }))
      await refused(`gateway ${q(v)}`, add({ gateway: `10.0.0.1${v}` }))
    }
    // the first 12 characters of an id name the devices: what breaks a line there is refused
    for (const v of BREAKING.filter(x => x.length < 100)) {
      await refused(`eid ${q(v)}`, async () => { await dp.removeEndpoint(sandbox.name, `abc${v}`) })
      await refused(`eid ${q(v)} (add)`, add({ eid: `abc${v}` }))
    }
    for (const v of ['a\nb', 'a b', 'x\0y', '../../etc/passwd', '/run/netns/../x', '-all', '']) {
      await refused(`container netns ${q(v)}`, add({ containerNetns: v }))
    }
    await refused('address prefix /33', add({ address: '10.0.0.2/33' }))
    await refused('ifName of 16 characters', add({ ifName: 'e'.repeat(16) }))
  })

  it('FDB and neighbour ops: one bad op refuses the whole batch, no line of it is written', async () => {
    const good: PeerOp = { op: 'add', kind: 'fdb', mac: MAC5, dst: '192.0.2.2' }
    for (const v of APPENDED) {
      const fdb = (mac: string, dst: string): PeerOp[] => [good, { op: 'add', kind: 'fdb', mac, dst }]
      await refused(`fdb mac ${q(v)}`, apply(fdb(`02:42:0a:00:00:06${v}`, '192.0.2.2')))
      await refused(`fdb dst ${q(v)}`, apply(fdb('02:42:0a:00:00:06', `192.0.2.2${v}`)))
      await refused(`neigh ip ${q(v)}`, apply([good, { op: 'del', kind: 'neigh', ip: `10.0.0.9${v}` }]))
      await refused(`underlayMtu ${q(v)}`, async () => { await dp.underlayMtu(`192.0.2.1${v}`) })
    }
    for (const v of HOSTILE) {
      await refused(`apply sandbox ${q(v)}`, apply([good], v))
      await refused(`readTables ${q(v)}`, async () => { await dp.readTables(v) })
    }
    // upper-case MACs are iproute2's too, but never ours: refused, not guessed at
    await refused('upper-case MAC', apply([{ op: 'del', kind: 'fdb', mac: '02:42:0A:00:00:06' }]))
  })

  it('a host namespace option with a hostile value fails at construction', () => {
    for (const v of HOSTILE) {
      const invalid = (e: unknown): boolean => e instanceof DataplaneError && e.code === 'invalid'
      assert.throws(() => new LinuxDataplane({ hostNetns: v, ip: t.tool('ip') }), invalid, q(v))
    }
    assert.equal(t.log(), '')
  })
})
