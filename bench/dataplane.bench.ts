/**
 * Data plane throughput on a 2-host netns lab (root): iperf3 TCP between
 *   - host veth: the two host namespaces over the underlay (no overlay; the physical limit here),
 *   - plain VXLAN: containers of a plain network on the two hosts,
 *   - encrypted VXLAN: containers of an `encrypted` network (VXLAN inside WireGuard; kernel
 *     WireGuard where the kernel has it, else wireguard-go, which the agent reports),
 * each run `--runs` times, the paths interleaved so that load drifts hit them alike; the median
 * is reported with the machine's CPU use during the run (all cores, from /proc/stat: the
 * userspace WireGuard process is not iperf3's) and iperf3's own sender/receiver CPU.
 *
 *   npm run bench:dataplane -- [--time 10] [--runs 3] [--json]
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { LabAgents } from '../deploy/lab/index.js'
import { execIn, spawnIn } from '../deploy/lab/index.js'
import { createContainer, createLab, destroyLab } from '../deploy/lab/index.js'

function arg (name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}
const seconds = arg('time', 10)
const runs = arg('runs', 3)
const asJson = process.argv.includes('--json')
const prefix = `wgb${randomBytes(3).toString('hex')}`

interface Path { name: string, client: string, server: string, serverIp: string }
interface Sample { gbps: number, machineCpu: number, senderCpu: number, receiverCpu: number, retransmits: number }

async function cpuTimes (): Promise<{ busy: number, total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const idle = (line[3] ?? 0) + (line[4] ?? 0)
  const total = line.reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

async function iperf (p: Path): Promise<Sample> {
  const server = spawnIn(p.server, 'iperf3', ['-s', '-1', '-p', '5201'], { stdio: 'ignore' })
  const gone = new Promise(resolve => server.once('exit', resolve))
  try {
    // Until the server listens.
    for (let i = 0; i < 50; i++) {
      if ((await execIn(p.server, 'ss', ['-Htln', 'sport = :5201'])).stdout.trim() !== '') break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const c0 = await cpuTimes()
    const r = await execIn(p.client, 'iperf3', ['-c', p.serverIp, '-p', '5201', '-t', String(seconds), '-J'])
    const c1 = await cpuTimes()
    if (r.code !== 0) throw new Error(`iperf3 ${p.name}: ${r.stdout.slice(0, 500)} ${r.stderr}`)
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }, sum_sent: { retransmits?: number }, cpu_utilization_percent: { host_total: number, remote_total: number } } }
    return {
      gbps: j.end.sum_received.bits_per_second / 1e9,
      machineCpu: 100 * (c1.busy - c0.busy) / Math.max(1, c1.total - c0.total),
      senderCpu: j.end.cpu_utilization_percent.host_total,
      receiverCpu: j.end.cpu_utilization_percent.remote_total,
      retransmits: j.end.sum_sent.retransmits ?? 0
    }
  } finally {
    server.kill('SIGKILL')
    await gone
  }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }

if (process.getuid?.() !== 0) throw new Error('bench:dataplane needs root (a netns lab)')
const load = loadavg().map(x => x.toFixed(2)).join(' ')
const lab = await createLab({ hosts: 2, prefix })
const agents = new LabAgents(lab)
try {
  await agents.start()
  await agents.waitMembers(2)
  const c = agents.client(0)
  await c.createNetwork({ Name: 'plain', Subnet: '10.71.0.0/24' })
  await c.createNetwork({ Name: 'sec', Subnet: '10.72.0.0/24', Options: { encrypted: '' } })
  for (let i = 0; i < 2; i++) {
    for (let k = 0; k < 100 && (await agents.client(i).listNetworks()).length < 2; k++) await new Promise(resolve => setTimeout(resolve, 100))
  }
  const ctr: Record<string, Array<{ ns: string, ip: string }>> = { plain: [], sec: [] }
  for (let i = 0; i < 2; i++) {
    for (const net of ['plain', 'sec']) {
      const ns = await createContainer(prefix, lab.hosts[i]!.name, net)
      const ep = await agents.client(i).attach(net, { Netns: ns, Name: `${net}-${i}` })
      ctr[net]!.push({ ns, ip: ep.IPv4Address.split('/')[0]! })
    }
  }
  const paths: Path[] = [
    { name: 'host veth', client: lab.hosts[0]!.ns, server: lab.hosts[1]!.ns, serverIp: lab.hosts[1]!.ip },
    { name: 'plain VXLAN', client: ctr.plain![0]!.ns, server: ctr.plain![1]!.ns, serverIp: ctr.plain![1]!.ip },
    { name: 'encrypted VXLAN', client: ctr.sec![0]!.ns, server: ctr.sec![1]!.ns, serverIp: ctr.sec![1]!.ip }
  ]
  // Warm up (ARP, WireGuard handshake) before measuring.
  for (const p of paths) await execIn(p.client, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', p.serverIp])
  const samples = new Map<string, Sample[]>(paths.map(p => [p.name, []]))
  for (let k = 0; k < runs; k++) for (const p of paths) samples.get(p.name)!.push(await iperf(p))
  const enc = await agents.client(0).encryption()
  // Where the encrypted path loses packets: UDP socket buffers (wireguard-go's) and the tun queue.
  const drops: Record<string, string> = {}
  for (const h of lab.hosts) {
    const snmp = (await execIn(h.ns, 'nstat', ['-az', 'UdpRcvbufErrors', 'UdpSndbufErrors', 'UdpInErrors'])).stdout
    const pick = (k: string): string => new RegExp(`${k}\\s+(\\d+)`).exec(snmp)?.[1] ?? '?'
    const link = (await execIn(h.ns, 'ip', ['-s', 'link', 'show', 'dev', (await agents.client(h.index - 1).encryption()).Interface])).stdout.split('\n')
    const rx = link[3]?.trim().split(/\s+/) ?? []
    const tx = link[5]?.trim().split(/\s+/) ?? []
    drops[h.name] = `udp rcvbuf errors ${pick('UdpRcvbufErrors')}, sndbuf errors ${pick('UdpSndbufErrors')}; wg device rx dropped ${rx[3] ?? '?'}, tx dropped ${tx[3] ?? '?'}`
  }
  const mtu = async (ns: string): Promise<string> => /mtu (\d+)/.exec((await execIn(ns, 'ip', ['link', 'show', 'eth0'])).stdout)?.[1] ?? '?'
  const rows = paths.map(p => {
    const s = samples.get(p.name)!
    return { path: p.name, gbps: median(s.map(x => x.gbps)), machineCpu: median(s.map(x => x.machineCpu)), senderCpu: median(s.map(x => x.senderCpu)), receiverCpu: median(s.map(x => x.receiverCpu)), retransmits: median(s.map(x => x.retransmits)), all: s.map(x => Number(x.gbps.toFixed(3))) }
  })
  const g = (n: string): number => rows.find(r => r.path === n)!.gbps
  const result = {
    machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
    loadBefore: load,
    wireguard: enc.Mode,
    seconds,
    runs,
    drops,
    mtu: { host: await mtu(lab.hosts[0]!.ns), plain: await mtu(ctr.plain![0]!.ns), encrypted: await mtu(ctr.sec![0]!.ns) },
    rows,
    ratios: { encryptedOverPlain: g('encrypted VXLAN') / g('plain VXLAN'), plainOverVeth: g('plain VXLAN') / g('host veth') },
    // Each round ran the three paths back to back: the ratio within a round shares its load.
    roundRatios: Array.from({ length: runs }, (_, k) => {
      const at = (n: string): number => samples.get(n)![k]!.gbps
      return { encryptedOverPlain: at('encrypted VXLAN') / at('plain VXLAN'), plainOverVeth: at('plain VXLAN') / at('host veth') }
    })
  }
  if (asJson) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
  } else {
    process.stdout.write(`machine ${result.machine}, load before ${load}, WireGuard ${enc.Mode}, ${runs} x ${seconds} s per path, MTU eth0 host/plain/encrypted ${result.mtu.host}/${result.mtu.plain}/${result.mtu.encrypted}\n\n`)
    process.stdout.write('| path | TCP Gbit/s (median) | runs | machine CPU % | iperf3 sender / receiver CPU % | retransmits |\n|---|---|---|---|---|---|\n')
    for (const r of rows) process.stdout.write(`| ${r.path} | ${r.gbps.toFixed(3)} | ${r.all.join(', ')} | ${r.machineCpu.toFixed(0)} | ${r.senderCpu.toFixed(0)} / ${r.receiverCpu.toFixed(0)} | ${r.retransmits} |\n`)
    for (const [h, d] of Object.entries(drops)) process.stdout.write(`\n${h}: ${d}`)
    const rr = (k: 'encryptedOverPlain' | 'plainOverVeth'): string => result.roundRatios.map(r => r[k].toFixed(3)).join(', ')
    process.stdout.write(`\n\nencrypted / plain VXLAN: ${result.ratios.encryptedOverPlain.toFixed(3)} of the medians; per round ${rr('encryptedOverPlain')} (target >= 0.5 with wireguard-go, >= 0.8 kernel)\n`)
    process.stdout.write(`plain VXLAN / host veth: ${result.ratios.plainOverVeth.toFixed(3)} of the medians; per round ${rr('plainOverVeth')}\n`)
  }
} finally {
  await agents.stopAll().catch(() => {})
  await destroyLab(prefix)
}
