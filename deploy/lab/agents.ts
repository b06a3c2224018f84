/**
 * Agents of a netns lab: one `ovnet agent` process per host namespace, the first host founding the
 * cluster and the others joining through it. Used by the demo (`npm start`), the end-to-end tests
 * and the chaos kit: start, wait ready, kill -9, restart with the same data dir, graceful stop.
 *
 * Agent logs (JSON lines), sockets and data dirs live under the lab's state dir, per host.
 */
import { closeSync, openSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { ApiClient, packageRoot } from '../../agent/index.js'
import { generateClusterKey } from '../../networkdb/index.js'
import { spawnIn } from './netns.js'
import type { Lab, LabHost } from './topology.js'

// The repository (not dist/): agents run through bin/ovnet.js, which runs the build.
const REPO = packageRoot(import.meta.url)
const OVNET_BIN = join(REPO, 'bin', 'ovnet.js')
export const CLUSTER_PORT = 7946
const AGENT_READY_TIMEOUT_MS = 60_000

/** A WireGuard device name unique to the lab host (at most 15 characters). */
export function labWgInterface (prefix: string, host: LabHost): string {
  return `w${host.index}${prefix}`.slice(0, 15)
}

export interface RunningAgent {
  host: LabHost
  child: ChildProcess
  socket: string
  log: string
  exited: Promise<number | null>
  /** performance.now() when the process was spawned. */
  spawnedAt: number
  /** ms from spawn until it first answered on its socket (set by waitReady). */
  readyMs?: number
}

export interface LabAgentsOptions {
  /**
   * Extra `ovnet agent` flags for every agent (e.g. ['--log-level', 'debug']), or per host (e.g.
   * a Docker plugin socket of its own: `h => ['--docker-plugin', pathFor(h)]`).
   */
  extraArgs?: string[] | ((host: LabHost) => string[])
}

export class LabAgents {
  readonly agents: RunningAgent[] = []
  private key = ''

  constructor (readonly lab: Lab, private readonly opts: LabAgentsOptions = {}) {}

  /**
   * Generate the cluster key and start one agent per host; resolves when all answer.
   * `oneByOne`: start each agent only once the previous one answers (a benchmark's start-up time
   * of one agent, not of N competing for the cores), polling its socket every 10 ms.
   * `upTo`: start only the first N hosts' agents; a later `start()` starts the rest.
   */
  async start (o: { oneByOne?: boolean, upTo?: number } = {}): Promise<void> {
    if (this.key === '') {
      await mkdir(this.lab.stateDir, { recursive: true, mode: 0o700 })
      this.key = join(this.lab.stateDir, 'cluster.key')
      await generateClusterKey(this.key)
    }
    for (const h of this.lab.hosts.slice(this.agents.length, o.upTo ?? this.lab.hosts.length)) {
      await mkdir(join(this.lab.stateDir, h.name), { recursive: true, mode: 0o700 })
      const a = this.spawn(h)
      this.agents.push(a)
      if (o.oneByOne === true) await waitReady(a, 10)
    }
    await Promise.all(this.agents.map(async a => { await waitReady(a) }))
  }

  client (i: number): ApiClient { return new ApiClient(this.agents[i]!.socket) }

  private spawn (host: LabHost): RunningAgent {
    const dir = join(this.lab.stateDir, host.name)
    const socket = join(dir, 'ovnet.sock')
    const log = join(dir, 'agent.log')
    // The first host founds the cluster (no seeds: it bootstraps the IPAM's address space); the
    // others join through it.
    const founder = this.lab.hosts[0]!
    const seeds = host === founder ? [] : [`${founder.ip}:${CLUSTER_PORT}`]
    const fd = openSync(log, 'a')
    // `ip netns exec` execs node in place, so child.pid is the agent's own pid (signals reach it).
    const child = spawnIn(host.ns, process.execPath, [
      OVNET_BIN, 'agent',
      '--name', host.ns,
      '--bind', `${host.ip}:${CLUSTER_PORT}`,
      '--advertise', host.ip,
      ...(seeds.length > 0 ? ['--join', seeds.join(',')] : []),
      '--cluster-key', this.key,
      '--data-dir', join(dir, 'data'),
      '--socket', socket,
      // wireguard-go's control socket is /var/run/wireguard/<device>.sock for every namespace.
      '--wg-interface', labWgInterface(this.lab.prefix, host),
      ...(typeof this.opts.extraArgs === 'function' ? this.opts.extraArgs(host) : this.opts.extraArgs ?? [])
    ], { cwd: REPO, detached: true, stdio: ['ignore', fd, fd] })
    closeSync(fd)
    const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    return { host, child, socket, log, exited, spawnedAt: performance.now() }
  }

  running (i: number): boolean {
    const c = this.agents[i]!.child
    return c.exitCode === null && c.signalCode === null
  }

  /** kill -9 agent i (its kernel objects and state stay behind, as after a crash). */
  async kill (i: number): Promise<void> {
    const a = this.agents[i]!
    if (!this.running(i)) return
    a.child.kill('SIGKILL')
    await a.exited
  }

  /** SIGTERM agent i: graceful leave, kernel objects removed. */
  async stop (i: number): Promise<void> {
    await stopAgent(this.agents[i]!)
  }

  /** Start agent i again with the same data dir (same identity, same state). */
  async restart (i: number): Promise<void> {
    if (this.running(i)) await this.kill(i)
    this.agents[i] = this.spawn(this.agents[i]!.host)
    await waitReady(this.agents[i])
  }

  async stopAll (): Promise<void> {
    await Promise.all(this.agents.map(async a => { await stopAgent(a) }))
  }

  /** Until every running agent sees `expected` members alive. */
  async waitMembers (expected = this.agents.length, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const live = this.agents.filter((_, i) => this.running(i))
      const views = await Promise.all(live.map(async a => await new ApiClient(a.socket).members().catch(() => [])))
      if (views.every(v => v.filter(m => m.Status === 'alive').length === expected)) return
      if (Date.now() > until) throw new Error(`the agents did not all see ${expected} members alive within ${timeoutMs} ms`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
}

async function stopAgent (a: RunningAgent): Promise<void> {
  if (a.child.exitCode !== null || a.child.signalCode !== null) return
  a.child.kill('SIGTERM')
  const timer = setTimeout(() => { a.child.kill('SIGKILL') }, 20_000)
  await a.exited
  clearTimeout(timer)
}

/** Resolves when the agent answers on its socket; rejects with its last log lines if it exits. */
export async function waitReady (a: RunningAgent, pollMs = 200): Promise<void> {
  const client = new ApiClient(a.socket, { timeoutMs: 2000 })
  const until = Date.now() + AGENT_READY_TIMEOUT_MS
  let exited: number | null | undefined
  void a.exited.then(code => { exited = code })
  for (;;) {
    if (exited !== undefined) {
      const tail = (await readFile(a.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join('\n')
      throw new Error(`agent on ${a.host.name} exited (code ${exited}) before it was ready; last log lines:\n${tail}`)
    }
    try {
      await client.ping()
      a.readyMs ??= performance.now() - a.spawnedAt
      return
    } catch {
      if (Date.now() > until) throw new Error(`agent on ${a.host.name} not ready after ${AGENT_READY_TIMEOUT_MS / 1000} s (log: ${a.log})`)
      await new Promise(resolve => setTimeout(resolve, pollMs))
    }
  }
}
