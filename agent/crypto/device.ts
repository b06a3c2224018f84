/**
 * The host's one WireGuard device (default `ovwg0`), kernel or userspace, configured with the
 * same `ip` and `wg` commands either way.
 *
 * - Detection: a probe `ip link add … type wireguard` (then deleted) tells whether the kernel has
 *   WireGuard; else `wireguard-go` (Debian's, the official userspace implementation) over
 *   /dev/net/tun; else none (encrypted networks are refused on this host, plain ones work).
 * - Userspace: `wireguard-go -f DEV` is the agent's child; its control socket is
 *   /var/run/wireguard/DEV.sock (shared by every namespace of the machine, hence the name option).
 *   After a kill -9 of the agent the device and its process live on and are adopted; deleting the
 *   link ends the process, which is how `destroy` stops one it did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import type { Logger } from '../../core/index.js'
import type { WireguardMode } from '../../proto/index.js'
import { run } from '../egress/index.js'

export const DEFAULT_WG_INTERFACE = 'ovwg0'
export const DEFAULT_WG_PORT = 51820
export const WIREGUARD_GO = 'wireguard-go'
const UAPI_DIR = '/var/run/wireguard'
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/

export function validIfName (name: string): boolean { return IFNAME_RE.test(name) && name !== '.' && name !== '..' }

/** One peer as `wg show DEV dump` lists it. */
export interface WgPeerState {
  publicKey: string
  endpoint: string | undefined
  allowedIps: string[]
  /** Unix seconds of the last handshake, 0 if none. */
  latestHandshake: number
  rx: number
  tx: number
}

export interface WgDeviceState { publicKey: string | undefined, listenPort: number, peers: WgPeerState[] }

/** The peer config ovnet wants: endpoint `ip:port`, one allowed address (the peer's VTEP). */
export interface WgPeerSpec { publicKey: string, endpoint: string, allowedIp: string }

/** Which WireGuard this host can run. Never throws. */
export async function detectMode (probeName = 'ovwgprobe0'): Promise<WireguardMode> {
  try {
    await run('ip', ['link', 'add', probeName, 'type', 'wireguard'])
    await run('ip', ['link', 'del', probeName]).catch(() => {})
    return 'kernel'
  } catch { /* no module: try userspace */ }
  try {
    await access('/dev/net/tun', constants.R_OK | constants.W_OK)
    await run(WIREGUARD_GO, ['--version'])
    await run('wg', ['--version'])
    return 'userspace'
  } catch {
    return 'none'
  }
}

export function parseDump (text: string): WgDeviceState {
  const lines = text.split('\n').filter(l => l !== '')
  const head = (lines[0] ?? '').split('\t')
  const peers: WgPeerState[] = lines.slice(1).map(l => {
    const f = l.split('\t')
    return {
      publicKey: f[0] ?? '',
      endpoint: f[2] === '(none)' ? undefined : f[2],
      allowedIps: f[3] === '(none)' || f[3] === undefined ? [] : f[3].split(','),
      latestHandshake: Number(f[4] ?? 0),
      rx: Number(f[5] ?? 0),
      tx: Number(f[6] ?? 0)
    }
  })
  return { publicKey: head[1] === '(none)' ? undefined : head[1], listenPort: Number(head[2] ?? 0), peers }
}

export class WgDevice {
  private child: ChildProcess | undefined

  constructor (readonly name: string, readonly mode: WireguardMode, private readonly log: Logger) {
    if (!validIfName(name)) throw new Error(`invalid WireGuard interface name ${JSON.stringify(name)}`)
  }

  async exists (): Promise<boolean> {
    return await run('ip', ['link', 'show', 'dev', this.name]).then(() => true, () => false)
  }

  /** Create the device (or adopt a live one), set key, port and MTU, bring it up. */
  async ensure (keyFile: string, port: number, mtu: number): Promise<void> {
    if (this.mode === 'none') {
      throw new Error('no WireGuard on this host (no kernel module, no wireguard-go with /dev/net/tun)')
    }
    // A device left by a killed agent is adopted only if `wg` can talk to it (its process lives).
    if (await this.exists() && !(await this.usable())) {
      await run('ip', ['link', 'del', 'dev', this.name]).catch(() => {})
    }
    if (!(await this.exists())) {
      if (this.mode === 'kernel') await run('ip', ['link', 'add', this.name, 'type', 'wireguard'])
      else await this.startUserspace()
    }
    await this.setKey(keyFile, port)
    await run('ip', ['link', 'set', 'dev', this.name, 'mtu', String(mtu), 'up'])
  }

  private async usable (): Promise<boolean> {
    return await run('wg', ['show', this.name, 'public-key']).then(() => true, () => false)
  }

  private async startUserspace (): Promise<void> {
    const child = spawn(WIREGUARD_GO, ['-f', this.name], {
      stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'error' }
    })
    this.child = child
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000) })
    const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    child.once('error', err => { this.log.error({ err: String(err) }, 'wireguard-go failed to start') })
    void exited.then(code => {
      if (this.child === child) {
        this.child = undefined
        this.log.warn({ code, stderr: stderr.trim() }, 'wireguard-go exited')
      }
    })
    // Ready once its control socket answers.
    const until = Date.now() + 10_000
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`wireguard-go ${this.name} exited: ${stderr.trim()}`)
      }
      if (await this.usable()) return
      if (Date.now() > until) {
        child.kill('SIGKILL')
        throw new Error(`wireguard-go ${this.name}: no control socket in ${UAPI_DIR} after 10 s`)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /**
   * Replace the private key (rotation) and the listen port. `wg` reads the key from a file (the
   * key store's, mode 0600): a pipe as /dev/stdin is a socket to Node, which wg cannot open.
   */
  async setKey (keyFile: string, port: number): Promise<void> {
    await run('wg', ['set', this.name, 'listen-port', String(port), 'private-key', keyFile])
  }

  async state (): Promise<WgDeviceState> {
    return parseDump(await run('wg', ['show', this.name, 'dump']))
  }

  /** Make the peers exactly `want`, in one `wg set`; returns what changed. */
  async syncPeers (want: readonly WgPeerSpec[]): Promise<{ added: number, removed: number }> {
    const have = (await this.state()).peers
    const wanted = new Map(want.map(p => [p.publicKey, p]))
    const args: string[] = []
    let added = 0
    let removed = 0
    for (const p of have) {
      if (!wanted.has(p.publicKey)) { args.push('peer', p.publicKey, 'remove'); removed++ }
    }
    for (const p of want) {
      const cur = have.find(h => h.publicKey === p.publicKey)
      if (cur !== undefined && cur.endpoint === p.endpoint && cur.allowedIps.length === 1 &&
          cur.allowedIps[0] === p.allowedIp) continue
      // `wg set … allowed-ips` replaces the peer's list, and an address given to this peer leaves
      // any other (a rotated key's old peer) in the same command.
      args.push('peer', p.publicKey, 'endpoint', p.endpoint, 'allowed-ips', p.allowedIp)
      added++
    }
    if (args.length > 0) await run('wg', ['set', this.name, ...args])
    return { added, removed }
  }

  /** Delete the device; a userspace process (ours or a previous run's) exits with it. */
  async destroy (): Promise<void> {
    const child = this.child
    this.child = undefined
    await run('ip', ['link', 'del', 'dev', this.name]).catch(() => {})
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise(resolve => child.once('exit', resolve))
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 3000)
      child.kill('SIGTERM')
      await gone
      clearTimeout(timer)
    }
  }
}
