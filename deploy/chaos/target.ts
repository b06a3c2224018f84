/**
 * Where a chaos run happens, behind one interface: the local netns lab (hosts are namespaces,
 * agents are child processes) or real hosts over ssh (agents are systemd services). Faults,
 * workload and checks only use this interface, so the same scenario runs on both.
 *
 * Everything a fault does is a command run as root on a host (`exec`): iptables rules, `bridge fdb`
 * entries, namespace reads. Only the agent's life cycle differs per target.
 */
import type { ApiClient } from '../../agent/index.js'

export interface TargetHost {
  /** Position in the target's host list (0-based); faults and reports use it. */
  index: number
  /** Short label for reports ("h1", "ovnet-2"). */
  label: string
  /** Underlay IPv4 address: the host's VTEP, and what partitions cut by. */
  ip: string
}

export interface ExecResult { stdout: string, stderr: string, code: number | null }

export interface ExecOptions {
  /** Run inside this named network namespace of the host (a container, a sandbox). */
  netns?: string
  /** Bytes for the command's stdin. */
  input?: string
}

export interface ChaosTarget {
  readonly kind: 'lab' | 'ssh'
  readonly hosts: readonly TargetHost[]
  /** The agents' cluster (gossip) port, tcp. */
  readonly gossipPort: number
  /** The agents' VXLAN port, udp. */
  readonly vxlanPort: number

  /** Bring the hosts to a running cluster (lab: build it; ssh: connect, check every agent answers). */
  setup(): Promise<void>
  /**
   * Undo what the run created on the hosts (containers, firewall rules; the lab itself) and leave
   * every agent running (ssh). Safe after a failed setup and when called twice.
   */
  teardown(): Promise<void>

  /** Control API client of host i's agent. */
  api(i: number): ApiClient
  /** The agent's node name (its sandboxes are `ovnet-<node name>-<nid12>`). Known after setup. */
  nodeName(i: number): string

  /** Run a command as root on host i; never throws for a non-zero exit. */
  exec(i: number, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>

  /** Whether the run believes host i's agent is up (it started or restarted it, and did not stop it). */
  agentUp(i: number): boolean
  /** SIGKILL the agent; it stays down (no supervisor restarts it) until `startAgent`. */
  killAgent(i: number): Promise<void>
  /** SIGTERM: graceful leave (its endpoints are detached, its kernel objects removed). */
  stopAgent(i: number): Promise<void>
  /** Start the agent again with the same data dir; resolves when it answers on its socket. */
  startAgent(i: number): Promise<void>

  /** A new, empty network namespace on host i (a "container"); returns the name to attach. */
  createContainer(i: number, name: string): Promise<string>
  removeContainer(i: number, netns: string): Promise<void>

  /** The last lines of host i's agent log, for failure reports. */
  logTail(i: number, lines: number): Promise<string>
  /** Copy every agent's whole log (since the run started) into `dir`, one file per host. */
  saveLogs(dir: string): Promise<void>
}
