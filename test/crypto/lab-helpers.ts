/**
 * Helpers of the encrypted data plane's lab tests: an underlay capture, a crafted VXLAN frame
 * sent from a namespace that holds no WireGuard key, a UDP listener inside a container.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdir, readFile, stat } from 'node:fs/promises'
import { execIn, pidsIn } from '../../deploy/lab/index.js'

/** tcpdump on the lab switch (every port of the underlay namespace: on br0 itself only frames for the bridge show), writing a pcap file. */
export class UnderlayCapture {
  private child: ChildProcess | undefined
  private exited: Promise<void> | undefined

  constructor (readonly ns: string, readonly file: string) {}

  async start (): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', this.ns, 'tcpdump', '-i', 'any', '-n', '-U', '-s', '0', '-w', this.file, 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] })
    this.child = child
    this.exited = new Promise(resolve => child.once('exit', () => { resolve() }))
    await new Promise<void>((resolve, reject) => {
      let err = ''
      const timer = setTimeout(() => { reject(new Error(`tcpdump did not start: ${err}`)) }, 10_000)
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString()
        if (err.includes('listening on')) { clearTimeout(timer); resolve() }
      })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`tcpdump exited ${code ?? 'by signal'}: ${err}`)) })
    })
    // On `-i any` "listening" comes before the capture is live: send markers (over lo) until
    // one is in the file.
    const until = Date.now() + 10_000
    while ((await stat(this.file)).size <= 24) {
      if (Date.now() > until) throw new Error('tcpdump captures nothing')
      await sendUdpFrom(this.ns, '127.0.0.1', 9, Buffer.from('capture-ready'))
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }

  /** Stop the capture and return the pcap bytes. */
  async stop (): Promise<Buffer> {
    // Frames still in flight (a neighbour resolution, a queue) reach the file first.
    await new Promise(resolve => setTimeout(resolve, 300))
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill('SIGINT')
    await this.exited
    this.child = undefined
    return await readFile(this.file)
  }
}

function checksum (b: Buffer): number {
  let sum = 0
  for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) + (b[i + 1] ?? 0)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return (~sum) & 0xffff
}

const ipBytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number))
const macBytes = (mac: string): Buffer => Buffer.from(mac.split(':').map(h => parseInt(h, 16)))

/** A VXLAN frame carrying one IPv4/UDP datagram to a container (what a VTEP would send). */
export function vxlanFrame (o: { vni: number, dstMac: string, srcIp: string, dstIp: string, dstPort: number, payload: string }): Buffer {
  const data = Buffer.from(o.payload)
  const udp = Buffer.alloc(8)
  udp.writeUInt16BE(40000, 0)
  udp.writeUInt16BE(o.dstPort, 2)
  udp.writeUInt16BE(8 + data.length, 4)
  const ip = Buffer.alloc(20)
  ip[0] = 0x45
  ip.writeUInt16BE(20 + 8 + data.length, 2)
  ip[8] = 64
  ip[9] = 17
  ipBytes(o.srcIp).copy(ip, 12)
  ipBytes(o.dstIp).copy(ip, 16)
  ip.writeUInt16BE(checksum(ip), 10)
  const eth = Buffer.concat([macBytes(o.dstMac), macBytes('02:00:00:00:00:99'), Buffer.from([0x08, 0x00])])
  const vx = Buffer.alloc(8)
  vx[0] = 0x08
  vx.writeUIntBE(o.vni, 4, 3)
  return Buffer.concat([vx, eth, ip, udp, data])
}

/** Send `frame` as one UDP datagram to ip:port from inside `ns`. */
export async function sendUdpFrom (ns: string, ip: string, port: number, frame: Buffer): Promise<void> {
  const script = `const s=require('dgram').createSocket('udp4');const b=Buffer.from(process.argv[1],'hex');` +
    `let n=0;const go=()=>s.send(b,${port},'${ip}',()=>{if(++n<3)setTimeout(go,100);else s.close()});go()`
  const r = await execIn(ns, process.execPath, ['-e', script, frame.toString('hex')])
  if (r.code !== 0) throw new Error(`send from ${ns} failed: ${r.stderr}`)
}

/** Listen on udp `port` in `ns` for `ms`; resolves to the payloads received. */
export async function receiveUdpIn (ns: string, port: number, ms: number, whileListening: () => Promise<void>): Promise<string[]> {
  const script = `const s=require('dgram').createSocket('udp4');const got=[];s.on('message',m=>got.push(m.toString()));` +
    `s.bind(${port},()=>{process.stdout.write('ready\\n')});setTimeout(()=>{process.stdout.write(JSON.stringify(got)+'\\n');process.exit(0)},${ms})`
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve() })
    child.once('exit', () => { reject(new Error(`listener in ${ns} exited early: ${out}`)) })
  })
  const done = new Promise<void>(resolve => child.once('exit', () => { resolve() }))
  await ready
  await whileListening()
  await done
  const last = out.trim().split('\n').pop() ?? '[]'
  return JSON.parse(last) as string[]
}

/** Pids of wireguard-go processes in a namespace (the lab host's). */
export async function wireguardGoPids (ns: string): Promise<number[]> {
  const out: number[] = []
  for (const pid of await pidsIn(ns)) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')
    if (comm.trim() === 'wireguard-go') out.push(pid)
  }
  return out
}

/** Summary of `ping -c N -i I` output: transmitted and received. */
export function pingCounts (out: string): { sent: number, received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out)
  return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) }
}

/** Pids of wireguard-go processes anywhere whose device name contains `prefix`. */
export async function wireguardGoOf (prefix: string): Promise<number[]> {
  const out: number[] = []
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const comm = await readFile(`/proc/${d}/comm`, 'utf8').catch(() => '')
    if (comm.trim() !== 'wireguard-go') continue
    const cmd = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')
    if (cmd.includes(prefix)) out.push(Number(d))
  }
  return out
}
