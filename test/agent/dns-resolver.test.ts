/**
 * The embedded DNS resolver on real UDP and TCP sockets on 127.0.0.1, over an in-memory name
 * table, with a test upstream server (also on 127.0.0.1) for forwarded names.
 */
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, createServer, type AddressInfo, type Server } from 'node:net'
import * as dns from 'dns-packet'
import { MemoryMetrics } from '../../core/index.js'
import { PromMetrics } from '../../agent/metrics.js'
import {
  arpaToIp, dnsMetrics, Forwarder, NameTable, parseNameservers, Resolver, resolvConfPath, serveTcp, serveUdp, type Asker, type Serving
} from '../../agent/dns/index.js'
import { aliasError } from '../../agent/dns/aliases.js'

const RED = 'r'.repeat(64)
const BLUE = 'b'.repeat(64)
const INTERNAL = 'i'.repeat(64)

async function bindUdp (): Promise<UdpSocket> {
  const s = createSocket('udp4')
  await new Promise<void>(resolve => { s.bind(0, '127.0.0.1', () => { resolve() }) })
  return s
}
async function listenTcp (): Promise<Server> {
  const s = createServer()
  await new Promise<void>(resolve => { s.listen(0, '127.0.0.1', () => { resolve() }) })
  return s
}

/** One UDP exchange; undefined after `ms` without an answer. */
async function askUdp (port: number, msg: Buffer, ms = 1000): Promise<dns.DecodedPacket | undefined> {
  const raw = await askUdpRaw(port, msg, ms)
  return raw === undefined ? undefined : dns.decode(raw)
}
async function askUdpRaw (port: number, msg: Buffer, ms = 1000): Promise<Buffer | undefined> {
  const s = createSocket('udp4')
  try {
    return await new Promise(resolve => {
      const t = setTimeout(() => { resolve(undefined) }, ms)
      s.on('message', m => { clearTimeout(t); resolve(m) })
      s.send(msg, port, '127.0.0.1')
    })
  } finally { s.close() }
}
async function askTcp (port: number, msg: Buffer): Promise<dns.DecodedPacket> {
  const c = connect(port, '127.0.0.1')
  try {
    return await new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0)
      c.on('error', reject)
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) resolve(dns.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))))
      })
      const f = Buffer.alloc(2 + msg.length)
      f.writeUInt16BE(msg.length, 0)
      msg.copy(f, 2)
      c.write(f)
    })
  } finally { c.destroy() }
}

let nextId = 1
function query (name: string, type: dns.RecordType = 'A', edns?: number): Buffer {
  return dns.encode({
    type: 'query',
    id: nextId++ & 0xffff,
    flags: dns.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...(edns === undefined ? {} : { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0 } as unknown as dns.Answer] })
  })
}
const rcodeOf = (p: dns.DecodedPacket): number => (p.flags ?? 0) & 0xf
const ips = (p: dns.DecodedPacket): string[] => (p.answers ?? []).filter(a => a.type === 'A').map(a => (a as { data: string }).data)

/** A test upstream: answers `*.example` with 192.0.2.x, counts queries; `big.example` gets 60 records. */
class Upstream {
  udp!: UdpSocket
  tcp!: Server
  udpQueries = 0
  tcpQueries = 0
  silent = false
  async start (): Promise<void> {
    this.udp = await bindUdp()
    this.tcp = createServer(c => {
      let buf = Buffer.alloc(0)
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return
        this.tcpQueries++
        const a = this.answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), 65535)
        const f = Buffer.alloc(2 + a.length)
        f.writeUInt16BE(a.length, 0)
        a.copy(f, 2)
        c.end(f)
      })
    })
    // The TCP server on the UDP socket's port: one "host" as resolv.conf names it.
    await new Promise<void>(resolve => { this.tcp.listen((this.udp.address()).port, '127.0.0.1', () => { resolve() }) })
    this.udp.on('message', (m, r) => {
      this.udpQueries++
      if (this.silent) return
      this.udp.send(this.answer(m, 512), r.port, r.address)
    })
  }

  get port (): number { return this.udp.address().port }

  private answer (m: Buffer, limit: number): Buffer {
    const q = dns.decode(m)
    const name = q.questions![0]!.name
    const n = name === 'big.example' ? 60 : 1
    const answers: dns.Answer[] = Array.from({ length: n }, (_, i) => ({ type: 'A', name, ttl: 60, data: `192.0.2.${i + 1}` }))
    const out = dns.encode({ type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE, questions: q.questions, answers })
    if (out.length <= limit) return out
    return dns.encode({ type: 'response', id: q.id, flags: dns.RECURSION_AVAILABLE | dns.TRUNCATED_RESPONSE, questions: q.questions, answers: [] })
  }

  close (): void { this.udp.close(); this.tcp.close() }
}

describe('embedded DNS resolver on real sockets (127.0.0.1)', function () {
  let names: NameTable
  let metrics: MemoryMetrics
  let upstream: Upstream
  let serving: Serving[]
  let port: number
  let tcpPort: number
  /** Source address -> asker; 127.0.0.1 is the asking container. */
  let asker: Asker | undefined

  beforeEach(async () => {
    names = new NameTable()
    names.setNetwork({ id: RED, name: 'red', internal: false })
    names.setNetwork({ id: BLUE, name: 'blue', internal: false })
    names.setNetwork({ id: INTERNAL, name: 'priv', internal: true })
    names.upsert({ nid: RED, eid: 'e1', name: 'web1', ip: '10.1.0.2', aliases: ['web'] })
    names.upsert({ nid: RED, eid: 'e2', name: 'web2', ip: '10.1.0.3', aliases: ['web'] })
    names.upsert({ nid: RED, eid: 'e3', name: 'web3', ip: '10.1.0.4', aliases: ['web', 'Cache'] })
    names.upsert({ nid: BLUE, eid: 'e4', name: 'db', ip: '10.2.0.2', aliases: [] })
    names.upsert({ nid: INTERNAL, eid: 'e5', name: 'vault', ip: '10.3.0.2', aliases: [] })
    metrics = new MemoryMetrics()
    upstream = new Upstream()
    await upstream.start()
    const m = dnsMetrics(metrics)
    const forwarder = new Forwarder({ servers: async () => [{ host: '127.0.0.1', port: upstream.port }], timeoutMs: 300, metrics: m })
    const resolver = new Resolver({ names, forwarder, metrics: m })
    asker = { nids: new Set([RED]), forward: true }
    const opts = { resolver, identify: (src: string) => (src === '127.0.0.1' ? asker : undefined), metrics: m }
    const udp = await bindUdp()
    const tcp = await listenTcp()
    port = udp.address().port
    tcpPort = (tcp.address() as AddressInfo).port
    serving = [serveUdp(udp, opts), serveTcp(tcp, opts)]
  })

  afterEach(() => {
    for (const s of serving) s.close()
    upstream.close()
  })

  it('answers A for an endpoint name of the asker\'s network, case-insensitively, and name.network', async () => {
    const a = await askUdp(port, query('web1'))
    assert.ok(a !== undefined)
    assert.equal(rcodeOf(a), 0)
    assert.deepEqual(ips(a), ['10.1.0.2'])
    assert.ok(a.flag_aa)
    assert.deepEqual(ips((await askUdp(port, query('WEB2.')))!), ['10.1.0.3'])
    assert.deepEqual(ips((await askUdp(port, query('web3.red')))!), ['10.1.0.4'])
    assert.deepEqual(ips((await askUdp(port, query('cache')))!), ['10.1.0.4'])
    assert.equal(upstream.udpQueries, 0)
  })

  it('an alias of several endpoints returns all their addresses, rotated per answer', async () => {
    const seen: string[][] = []
    for (let i = 0; i < 3; i++) seen.push(ips((await askUdp(port, query('web')))!))
    for (const s of seen) assert.deepEqual([...s].sort(), ['10.1.0.2', '10.1.0.3', '10.1.0.4'])
    assert.equal(new Set(seen.map(s => s[0])).size, 3, `first addresses ${JSON.stringify(seen)}`)
  })

  it('a name of another network is NXDOMAIN and is not forwarded; the asker on both networks gets it', async () => {
    const a = await askUdp(port, query('db'))
    assert.equal(rcodeOf(a!), 3)
    assert.equal(rcodeOf((await askUdp(port, query('db.blue')))!), 3)
    assert.equal(upstream.udpQueries, 0)
    asker = { nids: new Set([RED, BLUE]), forward: true }
    assert.deepEqual(ips((await askUdp(port, query('db')))!), ['10.2.0.2'])
  })

  it('PTR of the asker\'s networks\' addresses; another network\'s address NXDOMAIN; others forwarded', async () => {
    const a = await askUdp(port, query('2.0.1.10.in-addr.arpa', 'PTR'))
    assert.equal(rcodeOf(a!), 0)
    assert.equal((a!.answers![0] as { data: string }).data, 'web1.red')
    assert.equal(rcodeOf((await askUdp(port, query('2.0.2.10.in-addr.arpa', 'PTR')))!), 3)
    assert.equal(upstream.udpQueries, 0)
    await askUdp(port, query('9.9.9.9.in-addr.arpa', 'PTR'))
    assert.equal(upstream.udpQueries, 1)
  })

  it('a known name has no AAAA (NOERROR, no answer)', async () => {
    const a = await askUdp(port, query('web1', 'AAAA'))
    assert.equal(rcodeOf(a!), 0)
    assert.equal(a!.answers!.length, 0)
  })

  it('forwards other names to the upstream and relays its answer with the asker\'s id', async () => {
    const q = query('www.example')
    const a = await askUdp(port, q)
    assert.equal(a!.id, q.readUInt16BE(0))
    assert.deepEqual(ips(a!), ['192.0.2.1'])
    assert.equal(upstream.udpQueries, 1)
    assert.equal(metrics.get('ovnet_dns_forwards_total', { result: 'ok', transport: 'udp' }), 1)
  })

  it('asks the upstream again over TCP when its UDP answer is truncated, and truncates for a small client', async () => {
    const big = await askUdp(port, query('big.example', 'A', 4096))
    assert.equal(upstream.tcpQueries, 1, 'TCP fallback')
    assert.equal(ips(big!).length, 60, 'fits 4096 bytes')
    const small = await askUdp(port, query('big.example'))
    assert.ok(small!.flag_tc, 'too big for 512 bytes: TC')
    assert.equal(small!.answers!.length, 0)
    const viaTcp = await askTcp(tcpPort, query('big.example'))
    assert.equal(ips(viaTcp).length, 60)
  })

  it('truncates a local answer beyond the UDP size (TC, no records); EDNS raises the size; TCP gets everything', async () => {
    for (let i = 0; i < 60; i++) names.upsert({ nid: RED, eid: `m${i}`, name: `m${i}`, ip: `10.1.1.${i + 1}`, aliases: ['many'] })
    const small = await askUdp(port, query('many'))
    assert.ok(small!.flag_tc)
    assert.equal(small!.answers!.length, 0)
    const edns = await askUdp(port, query('many', 'A', 4096))
    assert.ok(!edns!.flag_tc)
    assert.equal(ips(edns!).length, 60)
    assert.ok(edns!.additionals!.some(a => a.type === 'OPT'), 'EDNS answered with EDNS')
    assert.equal(ips(await askTcp(tcpPort, query('many'))).length, 60)
  })

  it('an upstream that does not answer gives SERVFAIL after the timeout; internal-only askers are REFUSED', async () => {
    upstream.silent = true
    const a = await askUdp(port, query('slow.example'), 3000)
    assert.equal(rcodeOf(a!), 2)
    assert.equal(metrics.get('ovnet_dns_forwards_total', { result: 'timeout', transport: 'udp' }), 1)
    upstream.silent = false
    asker = { nids: new Set([INTERNAL]), forward: false }
    assert.equal(rcodeOf((await askUdp(port, query('www.example')))!), 5)
    assert.deepEqual(ips((await askUdp(port, query('vault')))!), ['10.3.0.2'])
  })

  it('drops and counts malformed packets and responses, and keeps answering', async () => {
    for (const bad of [Buffer.from([1, 2, 3]), Buffer.alloc(12, 0xff), Buffer.from('not dns at all, not at all')]) {
      assert.equal(await askUdpRaw(port, bad, 200), undefined)
    }
    const resp = dns.encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'web1', class: 'IN' }] })
    assert.equal(await askUdpRaw(port, resp, 200), undefined)
    assert.ok(metrics.get('ovnet_dns_dropped_total', { reason: 'malformed' }) >= 2)
    assert.equal(metrics.get('ovnet_dns_dropped_total', { reason: 'response' }), 1)
    assert.deepEqual(ips((await askUdp(port, query('web1')))!), ['10.1.0.2'])
  })

  it('gives FORMERR for no question and NOTIMP for another opcode', async () => {
    const none = dns.encode({ type: 'query', id: 9, flags: 0, questions: [] })
    assert.equal(rcodeOf((await askUdp(port, none))!), 1)
    const status = query('web1')
    status[2] = (status[2]! & 0x87) | (2 << 3) // opcode STATUS
    assert.equal(rcodeOf((await askUdp(port, status))!), 4)
  })

  it('answers nobody it cannot tie to a container (no open resolver)', async () => {
    asker = undefined
    assert.equal(await askUdpRaw(port, query('web1'), 300), undefined)
    assert.equal(await askUdpRaw(port, query('www.example'), 300), undefined)
    assert.equal(upstream.udpQueries, 0)
    assert.equal(metrics.get('ovnet_dns_dropped_total', { reason: 'unknown-source' }), 2)
  })

  it('a removed endpoint no longer resolves; a TCP connection serves several queries', async () => {
    names.remove(RED, 'e1')
    assert.equal(rcodeOf((await askUdp(port, query('web1')))!), 0)
    assert.equal(upstream.udpQueries, 1, 'unknown now: forwarded')
    assert.deepEqual(ips((await askUdp(port, query('web')))!).sort(), ['10.1.0.3', '10.1.0.4'])
    const c = connect(tcpPort, '127.0.0.1')
    const answers: dns.DecodedPacket[] = []
    await new Promise<void>(resolve => {
      let buf = Buffer.alloc(0)
      c.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d])
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          answers.push(dns.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))))
          buf = buf.subarray(2 + buf.readUInt16BE(0))
        }
        if (answers.length === 3) resolve()
      })
      for (const n of ['web2', 'web3', 'cache']) {
        const q = query(n)
        const f = Buffer.alloc(2 + q.length)
        f.writeUInt16BE(q.length, 0)
        q.copy(f, 2)
        c.write(f)
      }
    })
    c.destroy()
    assert.deepEqual(answers.map(ips).flat().sort(), ['10.1.0.3', '10.1.0.4', '10.1.0.4'])
  })
})

describe('embedded DNS helpers', function () {
  it('metrics reach the Prometheus registry, the latency histogram included', async () => {
    const prom = new PromMetrics({ defaultMetrics: false })
    const m = dnsMetrics(prom)
    m.query('udp')
    m.answer('NXDOMAIN', 'local', 0.0002)
    m.forward('timeout', 'udp')
    m.dropped('malformed')
    const text = await prom.text()
    assert.match(text, /ovnet_dns_queries_total\{transport="udp"\} 1/)
    assert.match(text, /ovnet_dns_answers_total\{rcode="NXDOMAIN",source="local"\} 1/)
    assert.match(text, /ovnet_dns_answer_seconds_bucket\{le="0.00025",source="local"\} 1/)
    assert.match(text, /ovnet_dns_forwards_total\{result="timeout",transport="udp"\} 1/)
    assert.match(text, /ovnet_dns_dropped_total\{reason="malformed"\} 1/)
  })

  it('reads nameservers from resolv.conf text', () => {
    assert.deepEqual(parseNameservers('# c\nnameserver 10.0.0.1\nnameserver  fe80::1%eth0\nsearch x\nnameserver bogus\nnameserver 1.1.1.1 ; c\n'),
      [{ host: '10.0.0.1', port: 53 }, { host: 'fe80::1', port: 53 }, { host: '1.1.1.1', port: 53 }])
  })
  it('knows where a container\'s resolv.conf is', () => {
    assert.equal(resolvConfPath('c1'), '/etc/netns/c1/resolv.conf')
    assert.equal(resolvConfPath('/run/netns/c1'), '/etc/netns/c1/resolv.conf')
    assert.equal(resolvConfPath('/proc/42/ns/net'), undefined, 'a running container\'s root is not written through /proc')
    assert.equal(resolvConfPath('/somewhere/else'), undefined)
  })
  it('reverse names and alias rules', () => {
    assert.equal(arpaToIp('4.3.2.1.in-addr.arpa'), '1.2.3.4')
    assert.equal(arpaToIp('4.3.2.in-addr.arpa'), undefined)
    assert.equal(arpaToIp('256.3.2.1.in-addr.arpa'), undefined)
    assert.equal(aliasError('db'), undefined)
    assert.equal(aliasError('db.prod_1'), undefined)
    assert.match(aliasError('-x') ?? '', /labels/)
    assert.match(aliasError('a..b') ?? '', /labels/)
    assert.match(aliasError('10.0.0.1') ?? '', /IPv4/)
    assert.match(aliasError('x'.repeat(254)) ?? '', /longer/)
  })
})
