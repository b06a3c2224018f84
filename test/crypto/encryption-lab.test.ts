/**
 * Encrypted networks end to end on a 3-host netns lab (root): agents as processes, wireguard-go
 * (no kernel WireGuard on the CI machines) inside the host namespaces, one encrypted and one
 * plain network. The after hook removes the lab (its namespaces' processes, wireguard-go
 * included) whether the tests passed or not, and checks that no wireguard-go is left.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { LabAgents, labWgInterface } from '../../deploy/lab/index.js'
import { allReachable, execIn, formatPingMatrix, pingMatrix, type PingTarget } from '../../deploy/lab/index.js'
import { createContainer, createLab, destroyLab, type Lab } from '../../deploy/lab/index.js'
import { until } from '../agent/helpers.js'
import { pingCounts, receiveUdpIn, sendUdpFrom, UnderlayCapture, vxlanFrame, wireguardGoOf, wireguardGoPids } from './lab-helpers.js'

const PATTERN = 'c0ffee0ddba11cafe5ec2e7f00d51a7e'

describe('encrypted networks on a 3-host netns lab (wireguard-go)', function () {
  this.timeout(300_000)
  let lab: Lab | undefined
  let agents: LabAgents | undefined
  const prefix = `wg${randomBytes(3).toString('hex')}`
  const sec: PingTarget[] = []
  const plain: PingTarget[] = []
  const macs = new Map<string, string>()
  let vnis: { sec: number, plain: number } = { sec: 0, plain: 0 }

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    lab = await createLab({ hosts: 3, prefix, outside: true })
    agents = new LabAgents(lab)
    await agents.start()
    await agents.waitMembers(3)
  })

  after(async () => {
    await agents?.stopAll().catch(() => {})
    await destroyLab(prefix)
    // A wireguard-go killed with -9 leaves its control socket behind.
    for (const h of lab?.hosts ?? []) await rm(`/var/run/wireguard/${labWgInterface(prefix, h)}.sock`, { force: true })
    assert.deepEqual(await wireguardGoOf(prefix), [], 'no wireguard-go of the lab left')
  })

  const a = (): LabAgents => agents!
  const hostNs = (i: number): string => lab!.hosts[i]!.ns

  it('every member announces userspace WireGuard; each key is in the data dir with mode 0600', async () => {
    await until('every member reports its WireGuard mode', async () => {
      const ms = await a().client(0).members()
      return ms.length === 3 && ms.every(m => m.Encryption === 'userspace')
    })
    for (let i = 0; i < 3; i++) {
      const st = await stat(join(lab!.stateDir, lab!.hosts[i]!.name, 'data', 'wireguard.key'))
      assert.equal(st.mode & 0o777, 0o600)
      const e = await a().client(i).encryption()
      assert.equal(e.Mode, 'userspace')
      assert.equal(e.Ready, false, 'no WireGuard device before an encrypted network is used')
    }
  })

  it('one encrypted and one plain network: full ping matrix in each, MTU leaves room for WireGuard', async () => {
    const c0 = a().client(0)
    await c0.createNetwork({ Name: 'sec', Subnet: '10.61.0.0/24', Options: { encrypted: '' } })
    await c0.createNetwork({ Name: 'plain', Subnet: '10.62.0.0/24' })
    for (let i = 0; i < 3; i++) await until(`host ${i} knows both networks`, async () => (await a().client(i).listNetworks()).length === 2)
    for (let i = 0; i < 3; i++) {
      for (const [net, list] of [['sec', sec], ['plain', plain]] as const) {
        const ns = await createContainer(prefix, lab!.hosts[i]!.name, net)
        const ep = await a().client(i).attach(net, { Netns: ns, Name: `${net}-${i}` })
        list.push({ name: `${net}-${i}`, ns, ip: ep.IPv4Address.split('/')[0]! })
        macs.set(`${net}-${i}`, ep.MacAddress)
      }
    }
    const vniOf = async (net: string): Promise<number> => Number((await c0.inspectNetwork(net)).Options['com.docker.network.driver.overlay.vxlanid_list'])
    vnis = { sec: await vniOf('sec'), plain: await vniOf('plain') }
    for (const list of [sec, plain]) {
      await until('ping matrix complete', async () => allReachable(await pingMatrix(list)), 30_000, 500)
      const m = await pingMatrix(list)
      assert.ok(allReachable(m), formatPingMatrix(list, m))
    }
    // Underlay 1500: VXLAN 50 + WireGuard over IPv4 60.
    const mtu = async (ns: string): Promise<number> => Number(/mtu (\d+)/.exec((await execIn(ns, 'ip', ['link', 'show', 'eth0'])).stdout)?.[1])
    assert.equal(await mtu(sec[0]!.ns), 1390)
    assert.equal(await mtu(plain[0]!.ns), 1450)
    // The largest unfragmented packet passes, one byte more is refused locally (DF).
    assert.equal((await execIn(sec[0]!.ns, 'ping', ['-c', '1', '-W', '2', '-M', 'do', '-s', '1362', sec[1]!.ip])).code, 0)
    for (let i = 0; i < 3; i++) {
      const e = await a().client(i).encryption()
      assert.equal(e.Ready, true)
      assert.equal(e.Interface, labWgInterface(prefix, lab!.hosts[i]!))
      assert.equal(e.Peers.length, 2, JSON.stringify(e.Peers))
    }
  })

  it('the underlay carries the plain network\'s payload in clear and never the encrypted one\'s', async () => {
    const capture = async (from: PingTarget, to: PingTarget): Promise<Buffer> => {
      const cap = new UnderlayCapture(lab!.underlayNs, join(lab!.stateDir, `cap-${from.name}.pcap`))
      await cap.start()
      const r = await execIn(from.ns, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', '-p', PATTERN, to.ip])
      const pcap = await cap.stop()
      assert.equal(pingCounts(r.stdout).received, 5, r.stdout)
      return pcap
    }
    const needle = Buffer.from(PATTERN, 'hex')
    const clear = await capture(plain[0]!, plain[1]!)
    assert.ok(clear.includes(needle), 'the plain network\'s payload is visible on the underlay (the check can see it)')
    const hidden = await capture(sec[0]!, sec[1]!)
    assert.ok(hidden.length > 24 + 5 * 2 * 100, 'the encrypted pings crossed the underlay too')
    assert.ok(!hidden.includes(needle), 'the encrypted network\'s payload never appears on the underlay')
  })

  it('a host without the key cannot inject into an encrypted network (the same frame enters a plain one)', async () => {
    const out = lab!.outside!.ns
    const to = (t: PingTarget, vni: number): Buffer => vxlanFrame({ vni, dstMac: macs.get(t.name)!, srcIp: t.ip.replace(/\.\d+$/, '.250'), dstIp: t.ip, dstPort: 9999, payload: `inject-${t.name}` })
    const h1 = lab!.hosts[1]!.ip
    // Positive control: the crafted frame is a good VXLAN frame.
    const gotPlain = await receiveUdpIn(plain[1]!.ns, 9999, 1500, async () => { await sendUdpFrom(out, h1, 4789, to(plain[1]!, vnis.plain)) })
    assert.deepEqual(gotPlain.slice(0, 1), [`inject-${plain[1]!.name}`])
    const gotSec = await receiveUdpIn(sec[1]!.ns, 9999, 1500, async () => { await sendUdpFrom(out, h1, 4790, to(sec[1]!, vnis.sec)) })
    assert.deepEqual(gotSec, [], 'the encrypted network took a frame from outside its tunnel')
    // Without the guard chain the vxlan socket would take it: the check above can fail.
    const jump = ['-w', '-t', 'raw', '-D', 'PREROUTING', '-j', 'OVNET-WG-GUARD']
    assert.equal((await execIn(hostNs(1), 'iptables', jump)).code, 0)
    try {
      const unguarded = await receiveUdpIn(sec[1]!.ns, 9999, 1500, async () => { await sendUdpFrom(out, h1, 4790, to(sec[1]!, vnis.sec)) })
      assert.deepEqual(unguarded.slice(0, 1), [`inject-${sec[1]!.name}`])
    } finally {
      await execIn(hostNs(1), 'iptables', ['-w', '-t', 'raw', '-I', 'PREROUTING', '1', '-j', 'OVNET-WG-GUARD'])
    }
  })

  it('key rotation under a running ping loses at most a couple of seconds of it', async () => {
    const before = (await a().client(1).encryption()).PublicKey
    const ping = execIn(sec[0]!.ns, 'ping', ['-c', '100', '-i', '0.05', '-W', '1', sec[1]!.ip])
    await new Promise(resolve => setTimeout(resolve, 1000))
    const r = await a().client(1).rotateKey()
    assert.notEqual(r.PublicKey, before)
    const out = await ping
    const { sent, received } = pingCounts(out.stdout)
    assert.equal(sent, 100)
    // 0.05 s apart: 40 lost = 2 s without traffic, the bound for one gossip round + one handshake.
    assert.ok(sent - received <= 40, `lost ${sent - received} of ${sent} during rotation`)
    const peers0 = (await a().client(0).encryption()).Peers
    assert.ok(peers0.some(p => p.PublicKey === r.PublicKey), 'host 0 holds the new key')
    assert.ok(!peers0.some(p => p.PublicKey === before), 'and not the old one')
    const m = await pingMatrix(sec)
    assert.ok(allReachable(m), formatPingMatrix(sec, m))
  })

  it('an agent killed with -9 adopts its running wireguard-go at restart', async () => {
    const before = await wireguardGoPids(hostNs(1))
    assert.equal(before.length, 1)
    await a().kill(1)
    await a().restart(1)
    assert.deepEqual(await wireguardGoPids(hostNs(1)), before, 'the same process, adopted')
    assert.equal((await a().client(1).encryption()).Ready, true, 'ready at start, before any attach')
    await until('the encrypted network is whole again', async () => allReachable(await pingMatrix(sec)), 60_000, 1000)
  })

  it('a host killed (agent and wireguard-go) and restarted keeps its key; tunnels come back', async () => {
    const key = (await a().client(2).encryption()).PublicKey
    await a().kill(2)
    for (const pid of await wireguardGoPids(hostNs(2))) process.kill(pid, 'SIGKILL')
    // Its peers drop it once it is found failed.
    await until('host 0 drops the failed host from its WireGuard peers', async () => !(await a().client(0).encryption()).Peers.some(p => p.PublicKey === key), 30_000, 500)
    await a().restart(2)
    assert.equal((await a().client(2).encryption()).PublicKey, key, 'same key after restart')
    await until('the encrypted network is whole again', async () => allReachable(await pingMatrix(sec)), 60_000, 1000)
    const m = await pingMatrix(plain)
    assert.ok(allReachable(m), formatPingMatrix(plain, m))
    assert.equal((await wireguardGoPids(hostNs(2))).length, 1, 'one wireguard-go on the restarted host')
  })

  it('a graceful stop removes the device, its process and the steering', async () => {
    await a().stop(2)
    assert.deepEqual(await wireguardGoPids(hostNs(2)), [])
    assert.equal((await execIn(hostNs(2), 'ip', ['link', 'show', labWgInterface(prefix, lab!.hosts[2]!)])).code !== 0, true)
    assert.doesNotMatch((await execIn(hostNs(2), 'ip', ['rule', 'show'])).stdout, /28534/)
    assert.doesNotMatch((await execIn(hostNs(2), 'iptables', ['-w', '-t', 'raw', '-S'])).stdout, /OVNET-WG-GUARD/)
    await until('host 0 drops the stopped host from its peers', async () => (await a().client(0).encryption()).Peers.length === 1, 30_000, 500)
  })
})
