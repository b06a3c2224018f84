/**
 * Overlay dataplane benchmark on a real kernel (root): one host namespace, one sandbox.
 *
 *   npm run bench:overlay -- [--peers 10000] [--drift 0.01] [--latency 500] [--interval 5]
 *
 *  1. programming: --peers remote announcements delivered to eventNotify in one burst; time until
 *     the kernel holds every FDB + neighbour entry (2 per peer) -> entries/s (target >= 20,000);
 *  2. reconcile: --drift of the entries corrupted by hand (deleted, wrong destination, stale extra,
 *     kernel-learnt) then one full reconciliation of the sandbox;
 *  3. latency: --latency single announcements, one every --interval ms; time from eventNotify to
 *     the kernel holding the entry (p50 / p99 / max).
 * Also the driver's own CPU cost per event on the in-memory dataplane.
 */
import '../core/polyfill.js'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { encodePeerRecord, PEER_TABLE } from '../proto/index.js'
import {
  LinuxDataplane, MemoryDataplane, OverlayDriver, EndpointInterface, EndpointJoinInfo, VXLANID_LIST, type
  Dataplane, type PeerOp
} from '../overlay/index.js'
import { benchArgs } from './args.js'

const ARGS = benchArgs({ peers: 10_000, drift: 0.01, latency: 500, interval: 5 })

const PEERS = ARGS.peers
const DRIFT = ARGS.drift
const LATENCY_N = ARGS.latency
const INTERVAL = ARGS.interval

const run = promisify(execFile)
const P = `ob${randomBytes(2).toString('hex')}`
const HOST = `${P}h`
const VTEP = '198.51.100.1'
const NID = randomBytes(8).toString('hex')
const IPAM = [{ addressSpace: 'GlobalDefault', pool: '10.128.0.0/9', gateway: '10.128.0.1/9' }]

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN
}
const hex = (n: number): string => n.toString(16).padStart(2, '0')
/** Peer i: an IP in 10.128.0.0/9 and a MAC derived from it, on one of 200 remote hosts. */
function peer (i: number, base = 0): { eid: string, value: Uint8Array, mac: string } {
  const n = i + base + 16
  const b = [(n >> 16) & 255, (n >> 8) & 255, n & 255]
  const mac = `02:42:0a:${hex(128 | b[0]!)}:${hex(b[1]!)}:${hex(b[2]!)}`
  const ip = `10.${128 | b[0]!}.${b[1]!}.${b[2]!}`
  const vtep = `198.51.100.${2 + (i % 200)}`
  return { eid: `peer${base + i}`, mac, value: encodePeerRecord({ endpointIP: `${ip}/9`, endpointMAC: mac, tunnelEndpointIP: vtep }) }
}

/** Wraps a dataplane to timestamp when each FDB entry reached the kernel. */
class Timed implements Dataplane {
  readonly landed = new Map<string, number>()
  constructor (private readonly inner: Dataplane) {}
  ensureSandbox = (s: Parameters<Dataplane['ensureSandbox']>[0]): Promise<boolean> => this.inner.ensureSandbox(s)
  removeSandbox = (n: string): Promise<void> => this.inner.removeSandbox(n)
  addEndpoint = (s: Parameters<Dataplane['addEndpoint']>[0]): Promise<void> => this.inner.addEndpoint(s)
  removeEndpoint = (s: string, e: string): Promise<void> => this.inner.removeEndpoint(s, e)
  readTables = (s: string): ReturnType<Dataplane['readTables']> => this.inner.readTables(s)
  listSandboxes = (p: string): ReturnType<Dataplane['listSandboxes']> => this.inner.listSandboxes(p)
  underlayMtu = (a: string): ReturnType<Dataplane['underlayMtu']> => this.inner.underlayMtu(a)
  async apply (s: string, ops: readonly PeerOp[]): Promise<void> {
    await this.inner.apply(s, ops)
    const t = performance.now()
    for (const o of ops) if (o.kind === 'fdb' && o.op === 'add') this.landed.set(o.mac, t)
  }
}

async function setupDriver (dp: Dataplane, nodeName: string): Promise<OverlayDriver> {
  const driver = new OverlayDriver({ dataplane: dp, nodeName, vtep: VTEP, reconcileIntervalMs: 0 })
  await driver.createNetwork(NID, { [VXLANID_LIST]: '4242' }, { tableEventRegister () {}, updateIpamConfig () {} }, IPAM, [])
  await driver.createEndpoint(NID, 'local', new EndpointInterface({ address: '10.128.0.2/9' }), {})
  await driver.join(NID, 'local', `${P}c`, new EndpointJoinInfo(), {}, {})
  return driver
}

async function memoryCost (): Promise<void> {
  const driver = await setupDriver(new MemoryDataplane(), `${P}m`)
  const t0 = performance.now()
  for (let i = 0; i < PEERS; i++) { const p = peer(i); driver.eventNotify(NID, PEER_TABLE, p.eid, undefined, p.value) }
  await driver.flush()
  const ms = performance.now() - t0
  console.log(`driver CPU (in-memory dataplane): ${PEERS} events in ${ms.toFixed(1)} ms = ${(ms * 1000 / PEERS).toFixed(1)} µs/event`)
}

async function main (): Promise<void> {
  if (process.getuid?.() !== 0) { console.error('overlay bench needs root (real namespaces)'); process.exit(1) }
  await memoryCost()
  await run('ip', ['netns', 'add', HOST])
  await run('ip', ['netns', 'add', `${P}c`])
  try {
    await run('ip', ['-n', HOST, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'])
    await run('ip', ['-n', HOST, 'addr', 'add', `${VTEP}/24`, 'dev', 'eth0'])
    await run('ip', ['-n', HOST, 'link', 'set', 'eth0', 'up'])
    const timed = new Timed(new LinuxDataplane({ hostNetns: HOST }))
    const driver = await setupDriver(timed, P)
    const sandbox = `ovnet-${P}-${NID.slice(0, 12)}`

    // 1. burst programming
    const t0 = performance.now()
    for (let i = 0; i < PEERS; i++) { const p = peer(i); driver.eventNotify(NID, PEER_TABLE, p.eid, undefined, p.value) }
    await driver.flush()
    const ms = performance.now() - t0
    const tables = await timed.readTables(sandbox)
    if (tables.fdb.length !== PEERS || tables.neigh.length !== PEERS) throw new Error(`kernel holds ${tables.fdb.length} fdb / ${tables.neigh.length} neigh, want ${PEERS}`)
    console.log(`programming: ${PEERS} peers = ${2 * PEERS} FDB+neighbour entries in ${ms.toFixed(0)} ms = ${Math.round(2 * PEERS * 1000 / ms)} entries/s`)

    // 2. reconcile with drift
    const k = Math.max(4, Math.round(2 * PEERS * DRIFT))
    const q = Math.floor(k / 4)
    const fdb: string[] = []
    const neigh: string[] = []
    for (let i = 0; i < q; i++) {
      fdb.push(`fdb del ${peer(i).mac} dev vxlan0 self`)
      fdb.push(`fdb replace ${peer(q + i).mac} dev vxlan0 dst 198.51.100.250 self permanent`)
      fdb.push(`fdb replace ${peer(2 * q + i).mac} dev vxlan0 dst 198.51.100.${2 + ((2 * q + i) % 200)} self dynamic`)
      neigh.push(`neigh replace 10.255.${i >> 8}.${i & 255} lladdr 02:42:0a:ff:${hex(i >> 8)}:${hex(i & 255)} dev vxlan0 nud permanent`)
    }
    await shIn(fdb.join('\n') + '\n', 'bridge', '-n', sandbox, '-batch', '-')
    await shIn(neigh.join('\n') + '\n', 'ip', '-n', sandbox, '-batch', '-')
    const r0 = performance.now()
    const [report] = await driver.reconcile(NID)
    const rms = performance.now() - r0
    console.log(`reconcile: ${report!.entries} kernel entries, ${4 * q} drifted (missing ${report!.missing}, wrong ${report!.wrong}, learned ${report!.learned}, stale ${report!.stale}) repaired in ${rms.toFixed(0)} ms`)

    // 3. single-event latency
    const sent = new Map<string, number>()
    for (let i = 0; i < LATENCY_N; i++) {
      const p = peer(i, PEERS)
      sent.set(p.mac, performance.now())
      driver.eventNotify(NID, PEER_TABLE, p.eid, undefined, p.value)
      await sleep(INTERVAL)
    }
    await driver.flush()
    const lat = [...sent].map(([mac, t]) => (timed.landed.get(mac) ?? NaN) - t)
    console.log(`latency (event -> kernel, ${LATENCY_N} events every ${INTERVAL} ms): p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`)
    await driver.stop()
  } finally {
    await run('ip', ['netns', 'del', HOST]).catch(() => {})
    await run('ip', ['netns', 'del', `${P}c`]).catch(() => {})
    await run('ip', ['netns', 'del', `ovnet-${P}-${NID.slice(0, 12)}`]).catch(() => {})
  }
}

async function shIn (input: string, ...argv: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), (err: Error | null) => { if (err !== null) reject(err); else resolve() })
    child.stdin!.end(input)
  })
}

main().catch((e: unknown) => { console.error(e); process.exit(1) })
