/**
 * One DNS query in, one answer out (or nothing): the resolver's whole decision, free of sockets
 * so that tests and the fuzzer drive it directly.
 *
 * - Names of the networks the asking container is on (NameTable): A records, every matching
 *   address, rotated per answer; other types of such a name: no data (NOERROR, no answer), as
 *   Docker answers AAAA for IPv4-only containers.
 * - PTR (in-addr.arpa) of those networks' addresses: `name.network`.
 * - A name (or address) only other networks have: NXDOMAIN, not forwarded (isolation holds in
 *   DNS too; forwarding would leak the question out of the cluster).
 * - Everything else: forwarded to the host's resolvers when the container is on a network with
 *   egress; REFUSED when it is on internal networks only (they have no way out, as Docker 26+).
 * - UDP answers fit the asker's size (EDNS payload size, else 512): if not, the answer goes
 *   without records and with the TC bit, and the client asks again over TCP.
 * - Bad input is dropped and counted, never thrown: undecodable, a response, or no question.
 *   A decodable query we do not serve gets FORMERR (not one question) or NOTIMP (not QUERY).
 */
import * as dns from 'dns-packet'
import type { DnsMetrics } from './metrics.js'
import type { NameTable } from './names.js'

/** Who asks: every network its namespace is on here, and whether it may go outside. */
export interface Asker {
  nids: ReadonlySet<string>
  forward: boolean
}

export type Transport = 'udp' | 'tcp'

/** Where names that are not the cluster's go (forwarder.ts; the fuzzer's in-memory one). */
export interface Upstreams {
  /** The upstream answer (the query's id), or undefined when none came. */
  forward(query: Buffer, tcp: boolean): Promise<Buffer | undefined>
}

export interface ResolverOptions {
  names: NameTable
  forwarder?: Upstreams
  metrics?: DnsMetrics
  /** TTL of local answers (default 5 s: a detached name must not live long in caches). */
  ttl?: number
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const
type Rcode = keyof typeof RCODE
const RCODE_NAME = Object.fromEntries(Object.entries(RCODE).map(([k, v]) => [v, k])) as Record<number, string>

/** Smallest and largest UDP answer we send (RFC 1035's 512; EDNS sizes above 4096 are capped). */
export const MIN_UDP = 512
export const MAX_UDP = 4096
/** The EDNS size we advertise (the DNS flag day's 1232 avoids IP fragmentation). */
const OUR_EDNS = 1232

const ARPA = '.in-addr.arpa'

/** `4.3.2.1.in-addr.arpa` -> `1.2.3.4`, or undefined. */
export function arpaToIp (name: string): string | undefined {
  if (!name.endsWith(ARPA)) return undefined
  const parts = name.slice(0, -ARPA.length).split('.')
  if (parts.length !== 4 || parts.some(p => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined
  return parts.reverse().join('.')
}

export class Resolver {
  private readonly ttl: number

  constructor (private readonly o: ResolverOptions) {
    this.ttl = o.ttl ?? 5
  }

  /** The answer to `msg`, or undefined to drop it. Never throws. */
  async handle (msg: Buffer, asker: Asker, transport: Transport): Promise<Buffer | undefined> {
    const t0 = performance.now()
    this.o.metrics?.query(transport)
    let q: dns.DecodedPacket
    try {
      q = dns.decode(msg)
    } catch {
      this.o.metrics?.dropped('malformed')
      return undefined
    }
    if (q.type === 'response' || q.flag_qr) {
      this.o.metrics?.dropped('response')
      return undefined
    }
    try {
      const { answer, source } = await this.answer(q, msg, asker, transport)
      if (answer !== undefined) {
        this.o.metrics?.answer(
          RCODE_NAME[answer[3]! & 0xf] ?? String(answer[3]! & 0xf), source, (performance.now() - t0) / 1000
        )
      }
      return answer
    } catch {
      // dns-packet can decode what it cannot encode back (a record it parsed leniently).
      this.o.metrics?.dropped('malformed')
      return undefined
    }
  }

  private async answer (
    q: dns.DecodedPacket, raw: Buffer, asker: Asker, transport: Transport
  ): Promise<{ answer: Buffer | undefined, source: 'local' | 'forward' }> {
    const local = (a: Buffer): { answer: Buffer, source: 'local' } => ({ answer: a, source: 'local' })
    const limit = transport === 'tcp' ? 65535 : udpLimit(q)
    const opcode = ((q.flags ?? 0) >> 11) & 0xf
    if (opcode !== 0) return local(this.reply(q, 'NOTIMP', [], limit))
    const questions = q.questions ?? []
    if (questions.length !== 1) return local(this.reply(q, 'FORMERR', [], limit))
    const question = questions[0]!
    // A name that would not encode back to the same bytes (binary labels, escapes) is not served:
    // the answer echoes the question, and it must decode at the asker.
    if (!plainName(question.name)) return local(this.reply({ ...q, questions: [] }, 'FORMERR', [], limit))
    const name = question.name.toLowerCase().replace(/\.$/, '')
    const mine = (question.class === 'IN' || question.class === undefined)
      ? this.local(question, name, asker)
      : undefined
    if (mine !== undefined) return local(this.reply(q, mine.rcode, mine.answers, limit, true))
    if (!asker.forward) return local(this.reply(q, 'REFUSED', [], limit))
    const up = this.o.forwarder === undefined ? undefined : await this.o.forwarder.forward(raw, transport === 'tcp')
    // An upstream answer must be one: what does not decode as a response is not relayed.
    if (up === undefined || !isResponse(up)) return { answer: this.reply(q, 'SERVFAIL', [], limit), source: 'forward' }
    if (up.length > limit) return { answer: this.truncate(up, q, limit), source: 'forward' }
    const relay = Buffer.from(up)
    relay.writeUInt16BE(q.id ?? 0, 0)
    return { answer: relay, source: 'forward' }
  }

  /** The cluster's answer to one question, or undefined when the name is not the cluster's. */
  private local (
    question: dns.Question, name: string, asker: Asker
  ): { rcode: Rcode, answers: dns.Answer[] } | undefined {
    if (question.type === 'PTR') {
      const ip = arpaToIp(name)
      if (ip === undefined) return undefined
      const r = this.o.names.reverse(ip, asker.nids)
      if (r.kind === 'unknown') return undefined
      if (r.kind === 'foreign') return { rcode: 'NXDOMAIN', answers: [] }
      return { rcode: 'NOERROR', answers: [{ type: 'PTR', name: question.name, ttl: this.ttl, data: r.name }] }
    }
    const r = this.o.names.lookup(name, asker.nids)
    if (r.kind === 'unknown') return undefined
    if (r.kind === 'foreign') return { rcode: 'NXDOMAIN', answers: [] }
    if (question.type !== 'A' && (question.type as string) !== 'ANY') return { rcode: 'NOERROR', answers: [] }
    return { rcode: 'NOERROR', answers: r.ips.map(ip => ({ type: 'A', name: question.name, ttl: this.ttl, data: ip })) }
  }

  private reply (
    q: dns.DecodedPacket, rcode: Rcode, answers: dns.Answer[], limit: number, authoritative = false
  ): Buffer {
    const rd = (q.flags ?? 0) & dns.RECURSION_DESIRED
    const flags = rd | dns.RECURSION_AVAILABLE | (authoritative ? dns.AUTHORITATIVE_ANSWER : 0) | RCODE[rcode]
    const additionals: dns.Answer[] = hasOpt(q)
      ? [{
          type: 'OPT', name: '.', udpPayloadSize: OUR_EDNS, extendedRcode: 0, ednsVersion: 0, flags: 0
        } as unknown as dns.Answer]
      : []
    const packet: dns.Packet = {
      type: 'response', id: q.id ?? 0, flags, questions: q.questions ?? [], answers, additionals
    }
    const out = dns.encode(packet)
    if (out.length <= limit) return out
    return dns.encode({ ...packet, flags: flags | dns.TRUNCATED_RESPONSE, answers: [] })
  }

  /** An upstream answer too large for the asker's UDP size: its header and question, with TC. */
  private truncate (up: Buffer, q: dns.DecodedPacket, limit: number): Buffer {
    let flags: number
    try {
      flags = dns.decode(up).flags ?? 0
    } catch {
      return this.reply(q, 'SERVFAIL', [], limit)
    }
    const additionals: dns.Answer[] = hasOpt(q)
      ? [{
          type: 'OPT', name: '.', udpPayloadSize: OUR_EDNS, extendedRcode: 0, ednsVersion: 0, flags: 0
        } as unknown as dns.Answer]
      : []
    return dns.encode({
      type: 'response', id: q.id ?? 0, flags: flags | dns.TRUNCATED_RESPONSE, questions: q.questions ?? [], answers: [],
      additionals
    })
  }
}

/** Printable ASCII labels of 1-63 characters, 253 at most, no escapes (or the root, ""). */
export function plainName (name: string): boolean {
  if (name === '' || name === '.') return true
  if (name.length > 254 || !/^[\x21-\x5b\x5d-\x7e]+$/.test(name)) return false
  const labels = (name.endsWith('.') ? name.slice(0, -1) : name).split('.')
  return labels.every(l => l.length >= 1 && l.length <= 63)
}

function isResponse (m: Buffer): boolean {
  try {
    return dns.decode(m).flag_qr
  } catch {
    return false
  }
}

function hasOpt (q: dns.Packet): boolean {
  return (q.additionals ?? []).some(a => a.type === 'OPT')
}

/** The asker's UDP answer size: its EDNS payload size within [512, 4096], else 512. */
export function udpLimit (q: dns.Packet): number {
  const opt = (q.additionals ?? []).find(a => a.type === 'OPT') as { udpPayloadSize?: number } | undefined
  const size = opt?.udpPayloadSize
  if (typeof size !== 'number' || !Number.isFinite(size)) return MIN_UDP
  return Math.min(MAX_UDP, Math.max(MIN_UDP, size))
}
