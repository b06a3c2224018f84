/**
 * The chaos target on real hosts over ssh: each host runs the agent as the systemd unit of
 * deploy/systemd (installed by deploy/install.sh). One ssh control master per host carries every
 * command; the control API is reached through a local unix socket per host whose connections are
 * piped, over that master, into the agent's socket by a one-line node script on the host — so a
 * login that needs sudo works too (sshd's own socket forwarding would connect as the login user,
 * who may not open the root-owned 0660 socket).
 *
 * Hosts file: one host per line, `NAME SSH-DESTINATION UNDERLAY-IP [AGENT-SOCKET]`; `#` comments.
 *
 * Agent life cycle through systemd: kill -9 is `systemctl kill --signal=SIGKILL` with a runtime
 * drop-in `Restart=no` in force, so that Restart=on-failure does not bring it back before the run
 * has watched the cluster notice; start removes the drop-in and starts the unit.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiClient, DEFAULT_SOCKET } from '../../agent/index.js'
import { exec } from '../lab/netns.js'
import type { ChaosTarget, ExecOptions, ExecResult, TargetHost } from './target.js'

export interface SshHost {
  name: string
  dest: string
  ip: string
  socket: string
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/

export function parseHostsFile (text: string): SshHost[] {
  const hosts: SshHost[] = []
  text.split('\n').forEach((raw, n) => {
    const line = raw.replace(/#.*/, '').trim()
    if (line === '') return
    const [name, dest, ip, socket, ...rest] = line.split(/\s+/)
    const where = `hosts file line ${n + 1}`
    if (name === undefined || dest === undefined || ip === undefined || rest.length > 0) {
      throw new Error(`${where}: expected NAME SSH-DESTINATION UNDERLAY-IP [AGENT-SOCKET], got "${line}"`)
    }
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`${where}: bad host name "${name}"`)
    if (dest.startsWith('-')) throw new Error(`${where}: an ssh destination cannot start with "-"`)
    if (!IPV4.test(ip)) throw new Error(`${where}: "${ip}" is not an IPv4 address`)
    if (socket !== undefined && !socket.startsWith('/')) throw new Error(`${where}: the agent socket must be an absolute path`)
    if (hosts.some(h => h.name === name)) throw new Error(`${where}: host "${name}" listed twice`)
    hosts.push({ name, dest, ip, socket: socket ?? DEFAULT_SOCKET })
  })
  if (hosts.length < 2) throw new Error('the hosts file must list at least 2 hosts')
  return hosts
}

/** POSIX shell quoting: every argument single-quoted, so the remote shell sees it verbatim. */
export function shellQuote (argv: readonly string[]): string {
  return argv.map(a => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')
}

/** Pipe stdin/stdout to a unix socket: the remote end of the control API pipe (node is on every host). */
const PIPE_SCRIPT = 'const s=require("net").connect(process.argv[1]);process.stdin.pipe(s).pipe(process.stdout);s.on("error",e=>{process.stderr.write(e.message);process.exit(1)});s.on("end",()=>process.exit(0))'

export interface SshTargetOptions {
  /** `ssh -F FILE` (e.g. the output of `vagrant ssh-config`). */
  sshConfig?: string
  /** More ssh options, each passed as `-o OPTION`. */
  sshOptions?: string[]
  /** Prefix remote commands with `sudo -n` (login is not root). */
  sudo?: boolean
  /** systemd unit of the agent. */
  service?: string
  gossipPort?: number
  vxlanPort?: number
  /** Prefix of the container namespaces this run creates on the hosts. */
  containerPrefix?: string
}

interface Conn { master: ChildProcess | undefined, ctl: string, apiSock: string, server: Server | undefined, name: string }

export class SshTarget implements ChaosTarget {
  readonly kind = 'ssh'
  readonly hosts: TargetHost[]
  readonly gossipPort: number
  readonly vxlanPort: number
  private readonly service: string
  private readonly conns: Conn[] = []
  private readonly down = new Set<number>()
  private readonly containers = new Map<number, Set<string>>()
  private workDir = ''
  private readonly since = new Date()

  constructor (private readonly list: readonly SshHost[], private readonly opts: SshTargetOptions = {}) {
    this.hosts = list.map((h, i) => ({ index: i, label: h.name, ip: h.ip }))
    this.gossipPort = opts.gossipPort ?? 7946
    this.vxlanPort = opts.vxlanPort ?? 4789
    this.service = opts.service ?? 'ovnet'
    if (!/^[A-Za-z0-9@._-]+$/.test(this.service)) throw new Error(`bad service name "${this.service}"`)
  }

  /** ssh options common to every call: config file, batch mode (never a password prompt), keep-alives. */
  private baseSshArgs (): string[] {
    const args = ['-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10', '-o', 'ServerAliveInterval=5', '-o', 'ServerAliveCountMax=3']
    if (this.opts.sshConfig !== undefined) args.unshift('-F', this.opts.sshConfig)
    for (const o of this.opts.sshOptions ?? []) args.push('-o', o)
    return args
  }

  /** ssh arguments of a command on host i: a channel over its control master. */
  sshArgs (i: number): string[] {
    return [...this.baseSshArgs(), '-S', this.conn(i).ctl]
  }

  /** The remote command line for argv (with sudo and namespace entry as configured). */
  remoteCommand (argv: readonly string[], netns?: string): string {
    const inNs = netns === undefined ? argv : ['ip', 'netns', 'exec', netns, ...argv]
    return shellQuote(this.opts.sudo === true ? ['sudo', '-n', ...inNs] : inNs)
  }

  async setup (): Promise<void> {
    this.workDir = await mkdtemp(join(tmpdir(), 'ovnet-chaos-ssh-'))
    for (let i = 0; i < this.list.length; i++) {
      const h = this.list[i]!
      const conn: Conn = { master: undefined, ctl: join(this.workDir, `${i}.ctl`), apiSock: join(this.workDir, `${i}.api.sock`), server: undefined, name: h.name }
      this.conns[i] = conn
      // The master: authenticates once; every later ssh to this host is a channel over it.
      const masterArgs = [...this.baseSshArgs(), '-M', '-S', conn.ctl, '-N', '-o', 'ControlPersist=no', h.dest]
      conn.master = spawn('ssh', masterArgs, { stdio: ['ignore', 'ignore', 'pipe'] })
      await this.waitMaster(i)
      conn.server = createServer(sock => {
        const child = spawn('ssh', [...this.sshArgs(i), h.dest, this.remoteCommand(['node', '-e', PIPE_SCRIPT, h.socket])], { stdio: ['pipe', 'pipe', 'ignore'] })
        sock.pipe(child.stdin)
        child.stdout.pipe(sock)
        sock.on('error', () => { child.kill() })
        child.on('exit', () => { sock.end() })
      })
      await new Promise<void>((resolve, reject) => { conn.server!.once('error', reject); conn.server!.listen(conn.apiSock, resolve) })
      const ping = await new ApiClient(conn.apiSock, { timeoutMs: 15_000 }).ping()
      conn.name = ping.Name
      const tools = await this.exec(i, ['sh', '-c', 'command -v iptables && command -v bridge && command -v ip'])
      if (tools.code !== 0) throw new Error(`${h.name}: iptables and iproute2 are needed on the host`)
    }
  }

  private async waitMaster (i: number): Promise<void> {
    const conn = this.conns[i]!
    let stderr = ''
    conn.master!.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    const until = Date.now() + 20_000
    for (;;) {
      if (conn.master!.exitCode !== null) throw new Error(`ssh to ${this.list[i]!.dest} failed: ${stderr.trim()}`)
      const r = await exec('ssh', [...this.sshArgs(i), '-O', 'check', this.list[i]!.dest])
      if (r.code === 0) return
      if (Date.now() > until) throw new Error(`ssh to ${this.list[i]!.dest}: no connection within 20 s: ${stderr.trim()}`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }

  async teardown (): Promise<void> {
    for (let i = 0; i < this.conns.length; i++) {
      // Leave every agent running, as found.
      if (this.down.has(i)) await this.startAgent(i).catch(() => {})
      for (const ns of this.containers.get(i) ?? []) await this.exec(i, ['ip', 'netns', 'del', ns]).catch(() => {})
    }
    for (const c of this.conns) {
      c.server?.close()
      if (c.master !== undefined && c.master.exitCode === null) c.master.kill()
    }
    this.conns.length = 0
    if (this.workDir !== '') await rm(this.workDir, { recursive: true, force: true })
  }

  api (i: number): ApiClient { return new ApiClient(this.conn(i).apiSock, { timeoutMs: 30_000 }) }
  nodeName (i: number): string { return this.conn(i).name }

  private conn (i: number): Conn {
    const c = this.conns[i]
    if (c === undefined) throw new Error('ssh target not set up')
    return c
  }

  async exec (i: number, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return await exec('ssh', [...this.sshArgs(i), this.list[i]!.dest, this.remoteCommand(argv, opts.netns)], opts.input)
  }

  private async execOk (i: number, argv: readonly string[]): Promise<string> {
    const r = await this.exec(i, argv)
    if (r.code !== 0) throw new Error(`${this.list[i]!.name}: ${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`)
    return r.stdout
  }

  agentUp (i: number): boolean { return !this.down.has(i) }

  private get dropIn (): string { return `/run/systemd/system/${this.service}.service.d/ovnet-chaos.conf` }

  async killAgent (i: number): Promise<void> {
    this.down.add(i)
    await this.execOk(i, ['sh', '-c', `mkdir -p "$(dirname ${this.dropIn})" && printf '[Service]\\nRestart=no\\n' > ${this.dropIn} && systemctl daemon-reload`])
    await this.execOk(i, ['systemctl', 'kill', '--signal=SIGKILL', `${this.service}.service`])
    await this.waitInactive(i)
  }

  async stopAgent (i: number): Promise<void> {
    this.down.add(i)
    await this.execOk(i, ['systemctl', 'stop', `${this.service}.service`])
  }

  async startAgent (i: number): Promise<void> {
    await this.execOk(i, ['sh', '-c', `rm -f ${this.dropIn} && systemctl daemon-reload && systemctl reset-failed ${this.service}.service; systemctl start ${this.service}.service`])
    const client = new ApiClient(this.conn(i).apiSock, { timeoutMs: 5000 })
    const until = Date.now() + 60_000
    for (;;) {
      try { await client.ping(); break } catch (err) {
        if (Date.now() > until) throw new Error(`${this.list[i]!.name}: agent not answering 60 s after start: ${String(err)}`)
        await new Promise(resolve => setTimeout(resolve, 500))
      }
    }
    this.down.delete(i)
  }

  private async waitInactive (i: number): Promise<void> {
    const until = Date.now() + 15_000
    while ((await this.exec(i, ['systemctl', 'is-active', '--quiet', `${this.service}.service`])).code === 0) {
      if (Date.now() > until) throw new Error(`${this.list[i]!.name}: ${this.service} still active after SIGKILL`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }

  async createContainer (i: number, name: string): Promise<string> {
    const ns = `${this.opts.containerPrefix ?? 'ovchaos'}-${name}`
    await this.execOk(i, ['sh', '-c', `ip netns add ${shellQuote([ns])} && ip -n ${shellQuote([ns])} link set lo up`])
    let set = this.containers.get(i)
    if (set === undefined) { set = new Set(); this.containers.set(i, set) }
    set.add(ns)
    return ns
  }

  async removeContainer (i: number, netns: string): Promise<void> {
    await this.exec(i, ['ip', 'netns', 'del', netns])
    this.containers.get(i)?.delete(netns)
  }

  async saveLogs (dir: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    const since = this.since.toISOString().replace('T', ' ').slice(0, 19)
    for (let i = 0; i < this.list.length; i++) {
      const r = await this.exec(i, ['journalctl', '-u', `${this.service}.service`, '--since', `${since} UTC`, '--no-pager', '-o', 'cat'])
      await writeFile(join(dir, `${this.list[i]!.name}.log`), r.stdout)
    }
  }

  async logTail (i: number, lines: number): Promise<string> {
    const r = await this.exec(i, ['journalctl', '-u', `${this.service}.service`, '-n', String(lines), '--no-pager', '-o', 'cat'])
    return r.stdout.trimEnd()
  }
}

/** Read and parse a hosts file. */
export async function loadHostsFile (path: string): Promise<SshHost[]> {
  return parseHostsFile(await readFile(path, 'utf8'))
}
