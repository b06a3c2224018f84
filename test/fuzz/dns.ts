/**
 * Fuzz of the embedded DNS resolver's parse/answer path (agent/dns/resolver.ts): valid queries
 * (A, AAAA, PTR, ANY, EDNS, several questions, compressed names, responses) mutated byte-wise
 * (flips, truncation, insertion, splices, header counts) and structure-wise (hostile names and
 * types), through `Resolver.handle` for UDP and TCP askers, with an in-memory upstream that
 * answers forwarded queries with mutated answers too. The resolver must never throw, and what
 * it sends must decode, be a response with the query's id, and fit the asker's UDP size.
 */
import * as dns from 'dns-packet'
import { NameTable, Resolver, udpLimit, type Asker, type Upstreams } from '../../agent/dns/index.js'
import { Rng } from './rng.js'

export interface DnsFuzzReport { packets: number, answered: number, dropped: number, forwarded: number }

export class DnsFuzzFailure extends Error {
  constructor (what: string, readonly packet: Buffer) {
    super(`${what} on packet ${packet.toString('hex').slice(0, 400)}`)
    this.name = 'DnsFuzzFailure'
  }
}

const NAMES = ['web', 'web1', 'db', 'web.red', 'db.blue', 'www.example', '2.0.1.10.in-addr.arpa', '9.9.9.9.in-addr.arpa', 'x.y.z', '']
const TYPES: dns.RecordType[] = ['A', 'AAAA', 'PTR', 'TXT', 'MX', 'SRV', 'CNAME', 'NS', 'SOA']

function table (): NameTable {
  const t = new NameTable()
  t.setNetwork({ id: 'red', name: 'red', internal: false })
  t.setNetwork({ id: 'blue', name: 'blue', internal: false })
  for (let i = 0; i < 40; i++) t.upsert({ nid: 'red', eid: `e${i}`, name: `web${i}`, ip: `10.1.0.${i + 2}`, aliases: ['web'] })
  t.upsert({ nid: 'blue', eid: 'd', name: 'db', ip: '10.2.0.2', aliases: [] })
  return t
}

function opt (size: number): dns.Answer {
  return { type: 'OPT', name: '.', udpPayloadSize: size, extendedRcode: 0, ednsVersion: 0, flags: 0 } as unknown as dns.Answer
}

function corpus (): Buffer[] {
  const out: Buffer[] = []
  let id = 1
  for (const name of NAMES) {
    for (const type of TYPES) {
      out.push(dns.encode({ type: 'query', id: id++, flags: dns.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }))
    }
    out.push(dns.encode({ type: 'query', id: id++, questions: [{ type: 'A', name, class: 'IN' }], additionals: [opt(4096)] }))
    out.push(dns.encode({ type: 'query', id: id++, questions: [{ type: 'A', name, class: 'IN' }], additionals: [opt(100)] }))
  }
  out.push(dns.encode({ type: 'query', id: id++, questions: [{ type: 'A', name: 'web', class: 'IN' }, { type: 'A', name: 'db', class: 'IN' }] }))
  out.push(dns.encode({ type: 'response', id: id++, questions: [{ type: 'A', name: 'web', class: 'IN' }], answers: [{ type: 'A', name: 'web', data: '1.2.3.4' }] }))
  out.push(dns.encode({ type: 'query', id: id++, questions: [{ type: 'A', name: 'web', class: 'CH' }] }))
  return out
}

const HOSTILE_NAMES = ['.', '..', 'a'.repeat(63), `${'a'.repeat(63)}.`.repeat(4), 'web\u0000', 'wEb', '*', '\\.', '256.1.1.1.in-addr.arpa', 'in-addr.arpa', 'é.example']

/** One mutated packet. */
export function mutate (corpus: readonly Buffer[], r: Rng): Buffer {
  const pick = (): Buffer => corpus[r.int(corpus.length)]!
  switch (r.int(8)) {
    case 0: return Buffer.from(r.bytes(r.int(600)))
    case 1: { // bit and byte flips
      const b = Buffer.from(pick())
      for (let n = 1 + r.int(6); n > 0 && b.length > 0; n--) b[r.int(b.length)] = r.int(2) === 0 ? b[r.int(b.length)]! ^ (1 << r.int(8)) : r.int(256)
      return b
    }
    case 2: { const b = pick(); return b.subarray(0, r.int(b.length + 1)) }
    case 3: { // insertion
      const b = pick()
      const at = r.int(b.length + 1)
      return Buffer.concat([b.subarray(0, at), Buffer.from(r.bytes(1 + r.int(40))), b.subarray(at)])
    }
    case 4: { // splice two packets
      const a = pick()
      const b = pick()
      return Buffer.concat([a.subarray(0, r.int(a.length + 1)), b.subarray(r.int(b.length + 1))])
    }
    case 5: { // header counts and flags
      const b = Buffer.from(pick())
      if (b.length >= 12) b.writeUInt16BE(r.int(0x10000), 2 + 2 * r.int(5))
      return b
    }
    case 6: { // compression pointers, loops included
      const b = Buffer.from(pick())
      if (b.length > 13) { const at = 12 + r.int(b.length - 13); b[at] = 0xc0 | r.int(64); b[at + 1] = r.int(256) }
      return b
    }
    default: { // hostile but encodable questions
      const name = HOSTILE_NAMES[r.int(HOSTILE_NAMES.length)]!
      try {
        return dns.encode({ type: 'query', id: r.int(0x10000), flags: r.int(0x8000), questions: [{ type: TYPES[r.int(TYPES.length)]!, name, class: 'IN' }], ...(r.int(2) === 0 ? { additionals: [opt(r.int(70000))] } : {}) })
      } catch {
        return pick()
      }
    }
  }
}

/** Run `packets` mutated packets through the resolver; throws DnsFuzzFailure on the first violation. */
export async function fuzzDns (packets: number, seed: number): Promise<DnsFuzzReport> {
  const r = new Rng(seed)
  const base = corpus()
  const report: DnsFuzzReport = { packets: 0, answered: 0, dropped: 0, forwarded: 0 }
  // The upstream answers with a mutated copy of a real answer, or nothing, or garbage.
  const upstreams: Upstreams = {
    forward: async (q) => {
      report.forwarded++
      switch (r.int(4)) {
        case 0: return undefined
        case 1: return Buffer.from(r.bytes(r.int(300)))
        default: {
          try {
            const d = dns.decode(q)
            const n = r.int(80)
            const answers: dns.Answer[] = Array.from({ length: n }, (_, i) => ({ type: 'A', name: 'www.example', ttl: 1, data: `192.0.2.${i % 250}` }))
            const a = dns.encode({ type: 'response', id: d.id, questions: d.questions, answers })
            return r.int(3) === 0 ? mutate([a], r) : a
          } catch {
            return Buffer.from(r.bytes(r.int(100)))
          }
        }
      }
    }
  }
  const resolver = new Resolver({ names: table(), forwarder: upstreams })
  const askers: Asker[] = [{ nids: new Set(['red']), forward: true }, { nids: new Set(['red', 'blue']), forward: false }]
  for (let i = 0; i < packets; i++) {
    const p = mutate(base, r)
    const tcp = r.int(4) === 0
    report.packets++
    let answer: Buffer | undefined
    try {
      answer = await resolver.handle(p, askers[r.int(2)]!, tcp ? 'tcp' : 'udp')
    } catch (err) {
      throw new DnsFuzzFailure(`handle threw ${String(err)}`, p)
    }
    if (answer === undefined) { report.dropped++; continue }
    report.answered++
    let a: dns.DecodedPacket
    try {
      a = dns.decode(answer)
    } catch (err) {
      throw new DnsFuzzFailure(`the answer does not decode (${String(err)})`, p)
    }
    if (!a.flag_qr) throw new DnsFuzzFailure('the answer is no response', p)
    if (a.id !== p.readUInt16BE(0)) throw new DnsFuzzFailure(`the answer has id ${String(a.id)}`, p)
    if (!tcp) {
      let limit = 512
      try { limit = udpLimit(dns.decode(p)) } catch { /* undecodable queries are never answered */ }
      if (answer.length > limit) throw new DnsFuzzFailure(`UDP answer of ${answer.length} bytes for a limit of ${limit}`, p)
    }
  }
  return report
}
