/**
 * The chaos target on the local netns lab: N host namespaces on one underlay bridge, one `ovnet
 * agent` process per host (deploy/lab). Commands run in a host's namespace with `nsenter --net`
 * (iptables rules there live and die with the namespace), containers are lab namespaces.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ApiClient } from '../../agent/index.js'
import { CLUSTER_PORT, LabAgents } from '../lab/agents.js'
import { exec } from '../lab/netns.js'
import { createContainer, createLab, destroyLab, labNamespaces, removeContainer, type Lab } from '../lab/topology.js'
import type { ChaosTarget, ExecOptions, ExecResult, TargetHost } from './target.js'

export interface LabTargetOptions {
  hosts: number
  /** Lab name prefix; must be unique among labs running at the same time. */
  prefix: string
  /** Extra `ovnet agent` flags. */
  agentArgs?: string[]
}

/** The agents' default VXLAN port (the lab does not set --vxlan-port). */
const VXLAN_PORT = 4789

export class LabTarget implements ChaosTarget {
  readonly kind = 'lab'
  readonly gossipPort = CLUSTER_PORT
  readonly vxlanPort = VXLAN_PORT
  readonly hosts: TargetHost[]
  private lab: Lab | undefined
  private agents: LabAgents | undefined
  private readonly down = new Set<number>()

  get prefix (): string { return this.opts.prefix }

  constructor (private readonly opts: LabTargetOptions) {
    this.hosts = Array.from({ length: opts.hosts }, (_, i) => ({ index: i, label: `h${i + 1}`, ip: `198.18.0.${11 + i}` }))
  }

  async setup (): Promise<void> {
    if ((await labNamespaces(this.opts.prefix)).length > 0) await destroyLab(this.opts.prefix)
    this.lab = await createLab({ hosts: this.opts.hosts, prefix: this.opts.prefix })
    // The lab numbers its underlay addresses the same way; trust the lab, not our copy.
    this.lab.hosts.forEach((h, i) => { this.hosts[i] = { index: i, label: h.name, ip: h.ip } })
    this.agents = new LabAgents(this.lab, { extraArgs: this.opts.agentArgs ?? [] })
    await this.agents.start()
    await this.agents.waitMembers(this.opts.hosts, 60_000)
  }

  async teardown (): Promise<void> {
    await this.agents?.stopAll().catch(() => {})
    await destroyLab(this.opts.prefix)
  }

  private get la (): LabAgents {
    if (this.agents === undefined) throw new Error('lab target not set up')
    return this.agents
  }

  api (i: number): ApiClient { return this.la.client(i) }

  /** The lab names each agent after its host namespace (unique across labs). */
  nodeName (i: number): string { return this.la.lab.hosts[i]!.ns }

  async exec (i: number, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const ns = opts.netns ?? this.la.lab.hosts[i]!.ns
    // nsenter enters the network namespace only: no private mount namespace, so `bridge -n` and
    // `ip -n` see every namespace of /run/netns, as a shell on a real host would.
    return await exec('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], opts.input)
  }

  agentUp (i: number): boolean { return !this.down.has(i) && this.la.running(i) }

  async killAgent (i: number): Promise<void> {
    this.down.add(i)
    await this.la.kill(i)
  }

  async stopAgent (i: number): Promise<void> {
    this.down.add(i)
    await this.la.stop(i)
  }

  async startAgent (i: number): Promise<void> {
    await this.la.restart(i)
    this.down.delete(i)
  }

  async createContainer (i: number, name: string): Promise<string> {
    return await createContainer(this.opts.prefix, this.la.lab.hosts[i]!.name, name)
  }

  async removeContainer (_i: number, netns: string): Promise<void> {
    await removeContainer(netns)
  }

  /** Let this process exit while the agents keep running (`--keep`). */
  release (): void {
    for (const a of this.agents?.agents ?? []) a.child.unref()
  }

  async saveLogs (dir: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    for (const a of this.agents?.agents ?? []) await copyFile(a.log, join(dir, `${a.host.name}.log`)).catch(() => {})
  }

  async logTail (i: number, lines: number): Promise<string> {
    const text = await readFile(this.la.agents[i]!.log, 'utf8').catch(() => '')
    return text.trimEnd().split('\n').slice(-lines).join('\n')
  }
}
