/**
 * Sockets bound inside another network namespace, for a process that stays in its own: Node
 * cannot setns(2), so a short-lived child started by `nsenter --net=PATH node -e ...` binds the
 * UDP socket and the TCP server there and hands both over the IPC channel (SCM_RIGHTS, Node's
 * `process.send(msg, handle)`), then exits. A socket keeps the namespace it was created in, so
 * the agent answers inside the sandbox from then on.
 *
 * This costs one process start (~60 ms) per network sandbox and host, never per attach, and no
 * attach waits for it (service.ts; a first attach starts it once its sandbox is made). The child
 * exits when the agent is gone: an agent killed or stopped during a bind had left it running for
 * good, its sockets holding the sandbox namespace (the chaos kit's runs left one or two).
 */
import { spawn } from 'node:child_process'
import type { Socket as UdpSocket } from 'node:dgram'
import type { Server } from 'node:net'

export interface NetnsSockets {
  udp: UdpSocket
  tcp: Server
  /** Inode of the namespace they were bound in (a re-created sandbox has another). */
  ino: number
}

/** The child: CommonJS through `node -e`, no file to find in src/ or dist/. */
const CHILD = `
const dgram = require('dgram'), net = require('net'), fs = require('fs')
const addr = process.argv[1], port = Number(process.argv[2])
const fail = e => process.send({ t: 'error', m: String(e && e.message || e) }, () => process.exit(1))
// The agent is gone (killed, or stopped during the bind; perhaps before this child even ran):
// nobody to hand the sockets to. A handle sent to a dead agent waits for its acknowledgement for
// ever, so the child checks that its parent is still the agent, and lives 15 s at most anyway.
const agent = Number(process.argv[3])
const orphaned = () => { if (process.ppid !== agent) process.exit(1) }
orphaned()
setInterval(orphaned, 100).unref()
setTimeout(() => process.exit(1), 15000).unref()
try {
  const ino = fs.statSync('/proc/self/ns/net').ino
  const u = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4' })
  u.on('error', fail)
  u.bind({ address: addr, port, exclusive: true }, () => {
    const s = net.createServer()
    s.on('error', fail)
    s.listen({ host: addr, port, exclusive: true }, () => {
      process.send({ t: 'udp', ino }, u, () => {
        process.send({ t: 'tcp', ino }, s, () => { u.close(); s.close(); process.disconnect() })
      })
    })
  })
} catch (e) { fail(e) }
`

export async function bindInNetns (
  netnsPath: string, address: string, port: number, timeoutMs = 10_000
): Promise<NetnsSockets> {
  const args = ['-e', CHILD, address, String(port), String(process.pid)]
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc']
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString() })
  return await new Promise<NetnsSockets>((resolve, reject) => {
    let udp: UdpSocket | undefined
    let done = false
    const timer = setTimeout(() => {
      finish(new Error(`binding ${address}:${port} in ${netnsPath} timed out`))
    }, timeoutMs)
    const finish = (err: Error | undefined, ok?: NetnsSockets): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      if (err !== undefined) {
        udp?.close()
        if (child.exitCode === null) child.kill('SIGKILL')
        reject(err)
      } else {
        resolve(ok!)
      }
    }
    child.on('message', (m: { t?: string, m?: string, ino?: number }, handle: unknown) => {
      if (m.t === 'error') finish(new Error(`binding ${address}:${port} in ${netnsPath}: ${m.m ?? 'failed'}`))
      else if (m.t === 'udp') udp = handle as UdpSocket
      else if (m.t === 'tcp' && udp !== undefined) finish(undefined, { udp, tcp: handle as Server, ino: m.ino ?? 0 })
    })
    child.on('error', err => { finish(new Error(`nsenter: ${err.message}`)) })
    // 'close' comes after the IPC channel and stdio closed, so after every message: no pair by
    // now means the child failed.
    child.on('close', code => {
      finish(new Error(`binding ${address}:${port} in ${netnsPath} failed (exit ${String(code)}): ${stderr.trim()}`))
    })
  })
}
