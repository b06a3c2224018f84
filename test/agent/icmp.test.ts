import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  decodeIcmp, encodeEchoRequest, IcmpProber, internetChecksum, PeerHealthMonitor, type Prober
} from '../../agent/icmp.js'
import { FakeClock, MemoryMetrics } from '../../core/index.js'
import { addNetns, delNetns, execIn, ipBatch, listNetns } from '../../deploy/lab/index.js'
import { REPO, run } from './helpers.js'

/** An IPv4 header (no options) around `payload`, as a raw socket delivers it. */
function ipv4 (src: string, dst: string, proto: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(20)
  h[0] = 0x45
  h.writeUInt16BE(20 + payload.length, 2)
  h[8] = 64
  h[9] = proto
  Buffer.from(src.split('.').map(Number)).copy(h, 12)
  Buffer.from(dst.split('.').map(Number)).copy(h, 16)
  h.writeUInt16BE(internetChecksum(h), 10)
  return Buffer.concat([h, payload])
}

function echoReply (id: number, seq: number, payload: Buffer): Buffer {
  const m = encodeEchoRequest(id, seq, payload)
  m[0] = 0
  m.writeUInt16BE(0, 2)
  m.writeUInt16BE(internetChecksum(m), 2)
  return m
}

describe('ICMP packets', function () {
  it('computes the RFC 1071 checksum (known packet, odd length)', () => {
    // The echo request of node-raw-socket's README, whose checksum field 0x4352 is correct.
    const pkt = Buffer.from('080043520001 0a09 6162636465666768696a6b6c6d6e6f7071727374757677616263646566676869'.replace(/ /g, ''), 'hex')
    assert.equal(internetChecksum(pkt), 0) // a valid message sums to zero
    pkt.writeUInt16BE(0, 2)
    assert.equal(internetChecksum(pkt), 0x4352)
    assert.equal(internetChecksum(Buffer.from([0x01])), 0xfeff)
  })

  it('encodes an echo request with identifier, sequence and checksum', () => {
    const m = encodeEchoRequest(0x1234, 0xbeef, Buffer.from('cookie!!'))
    assert.equal(m[0], 8)
    assert.equal(m.readUInt16BE(4), 0x1234)
    assert.equal(m.readUInt16BE(6), 0xbeef)
    assert.equal(internetChecksum(m), 0)
  })

  it('decodes replies, rejects corrupt ones, and reads the echo quoted in an unreachable error', () => {
    const reply = ipv4('192.0.2.2', '192.0.2.1', 1, echoReply(7, 9, Buffer.from('abcdefgh')))
    assert.deepEqual(decodeIcmp(reply), { kind: 'reply', identifier: 7, sequence: 9, payload: Buffer.from('abcdefgh') })
    const corrupt = Buffer.from(reply)
    corrupt.writeUInt8(corrupt.readUInt8(corrupt.length - 1) ^ 0xff, corrupt.length - 1)
    assert.equal(decodeIcmp(corrupt), undefined)

    const request = ipv4('192.0.2.1', '192.0.2.9', 1, encodeEchoRequest(7, 10, Buffer.from('abcdefgh')))
    const unreach = Buffer.concat([Buffer.from([3, 1, 0, 0, 0, 0, 0, 0]), request.subarray(0, 28)])
    unreach.writeUInt16BE(internetChecksum(unreach), 2)
    assert.deepEqual(decodeIcmp(ipv4('192.0.2.1', '192.0.2.1', 1, unreach)),
      { kind: 'error', type: 3, code: 1, target: '192.0.2.9', identifier: 7, sequence: 10 })

    // Our own echo request (seen on loopback) and non-IPv4 junk are not replies.
    assert.equal(decodeIcmp(request), undefined)
    assert.equal(decodeIcmp(Buffer.from([0x60, 0, 0])), undefined)
  })
})

describe('PeerHealthMonitor (scripted prober, fake clock)', function () {
  class ScriptedProber implements Prober {
    answers = new Map<string, number | null>()
    calls: string[] = []
    async probe (ip: string): Promise<number | null> { this.calls.push(ip); return this.answers.get(ip) ?? null }
    close (): void {}
  }

  it('probes the peer set every interval and caches RTTs; one miss does not flip a peer', async () => {
    const clock = new FakeClock()
    const prober = new ScriptedProber()
    const metrics = new MemoryMetrics()
    const m = new PeerHealthMonitor(prober, { clock, intervalMs: 1000, missesBeforeUnreachable: 2, metrics })
    prober.answers.set('192.0.2.1', 0.5)
    prober.answers.set('192.0.2.2', null)
    m.setPeers(['192.0.2.1', '192.0.2.2', 'not-an-ip'])
    assert.equal(m.rtt('192.0.2.1'), null) // nothing probed yet
    m.start()
    await clock.advance(0)
    assert.equal(m.rtt('192.0.2.1'), 0.5)
    assert.equal(m.rtt('192.0.2.2'), null)
    assert.equal(metrics.get('ovnet_peer_reachable', { peer: '192.0.2.1' }), 1)
    assert.equal(metrics.get('ovnet_peer_rtt_milliseconds', { peer: '192.0.2.1' }), 0.5)
    assert.deepEqual(prober.calls.sort(), ['192.0.2.1', '192.0.2.2'])

    prober.answers.set('192.0.2.1', null) // one lost packet
    await clock.advance(1000)
    assert.equal(m.rtt('192.0.2.1'), 0.5)
    assert.equal(m.result('192.0.2.1')?.consecutiveMisses, 1)
    await clock.advance(1000) // the second miss in a row: unreachable
    assert.equal(m.rtt('192.0.2.1'), null)
    assert.equal(metrics.get('ovnet_peer_reachable', { peer: '192.0.2.1' }), 0)
    prober.answers.set('192.0.2.1', 0.25)
    await clock.advance(1000)
    assert.equal(m.rtt('192.0.2.1'), 0.25)

    m.setPeers(['192.0.2.1'])
    assert.equal(m.result('192.0.2.2'), undefined)
    prober.calls = []
    await m.stop()
    await clock.advance(5000)
    assert.deepEqual(prober.calls, [], 'no probes after stop')
  })
})

describe('IcmpProber (real raw socket, root)', function () {
  this.timeout(30_000)
  const prefix = `ovi${randomBytes(2).toString('hex')}`
  const nsA = `${prefix}-a`
  const nsB = `${prefix}-b`
  const subnet = `198.18.${Math.floor(Math.random() * 250) + 1}`
  let prober: IcmpProber | undefined

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    // Two namespaces joined by a veth pair; no route or address outside them.
    await addNetns(nsA)
    await addNetns(nsB)
    await ipBatch(nsA, [
      `link add eth0 type veth peer name eth0 netns ${nsB}`,
      `addr add ${subnet}.1/24 dev eth0`,
      'link set eth0 up'
    ])
    await ipBatch(nsB, [`addr add ${subnet}.2/24 dev eth0`, 'link set eth0 up'])
  })
  afterEach(() => { prober?.close(); prober = undefined })
  after(async () => {
    await delNetns(nsA)
    await delNetns(nsB)
    assert.deepEqual((await listNetns()).filter(n => n.startsWith(prefix)), [])
  })

  it('measures the RTT to 127.0.0.1, also with several probes and a foreign ping in flight', async () => {
    prober = new IcmpProber()
    const other = run('ping', ['-c', '3', '-i', '0.2', '127.0.0.1'])
    const rtts = await Promise.all([1, 2, 3, 4, 5].map(async () => await prober!.probe('127.0.0.1', 2000)))
    for (const rtt of rtts) {
      assert.equal(typeof rtt, 'number')
      assert.ok(rtt! >= 0 && rtt! < 2000)
    }
    assert.equal((await other).code, 0)
  })

  it('two probers in one process each get their own answers', async () => {
    prober = new IcmpProber()
    const second = new IcmpProber()
    try {
      const [a, b] = await Promise.all([prober.probe('127.0.0.1', 2000), second.probe('127.0.0.1', 2000)])
      assert.equal(typeof a, 'number')
      assert.equal(typeof b, 'number')
    } finally {
      second.close()
    }
  })

  it('works from inside a namespace: the peer answers, an absent address gives null', async () => {
    const r = await execIn(nsA, process.execPath, ['--import', 'tsx', join(REPO, 'test/agent/fixtures/icmp-probe.ts'), '1500', '127.0.0.1', `${subnet}.2`, `${subnet}.77`])
    assert.equal(r.code, 0, r.stderr)
    const res = JSON.parse(r.stdout) as Record<string, number | null>
    assert.equal(typeof res['127.0.0.1'], 'number')
    assert.equal(typeof res[`${subnet}.2`], 'number')
    assert.equal(res[`${subnet}.77`], null)
  })

  it('a host-unreachable error for our echo settles the probe before its timeout', async () => {
    // ARP for an absent neighbour fails after ~3 s and the kernel answers our echo with ICMP
    // host unreachable quoting it; the prober must match that quote rather than wait 20 s.
    const started = Date.now()
    const r = await execIn(nsA, process.execPath, ['--import', 'tsx', join(REPO, 'test/agent/fixtures/icmp-probe.ts'), '20000', `${subnet}.78`])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { [`${subnet}.78`]: null })
    assert.ok(Date.now() - started < 15_000, 'settled by the ICMP error, not by the 20 s timeout')
  })

  it('an address that the namespace cannot reach at all resolves null, not an error', async () => {
    // No route to 203.0.113.0/24 inside nsB: the send itself fails with ENETUNREACH.
    const r = await execIn(nsB, process.execPath, ['--import', 'tsx', join(REPO, 'test/agent/fixtures/icmp-probe.ts'), '1000', '203.0.113.5'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), { '203.0.113.5': null })
  })

  it('rejects a non-IPv4 target and refuses to probe after close', async () => {
    prober = new IcmpProber()
    await assert.rejects(prober.probe('::1', 100), TypeError)
    prober.close()
    await assert.rejects(prober.probe('127.0.0.1', 100), /closed/)
  })
})
