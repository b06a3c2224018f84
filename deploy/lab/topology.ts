/**
 * The netns lab: N "hosts" as network namespaces on one underlay L2 segment, for running one
 * ovnet agent per host on a single machine.
 *
 *   <prefix>-underlay   namespace holding the underlay bridge br0 (a bridge in the ROOT namespace
 *                       does not forward between namespaces on this machine kind: host firewall)
 *   <prefix>-h<i>       host i: eth0 (veth, peer h<i> on br0) with 198.18.0.(10+i)/24, lo up
 *   <prefix>-h<i>-<c>   a "container" namespace of host i (lo up, nothing else: the agent's
 *                       attach moves its interface in)
 *   <prefix>-outside    with `outside: true`: a server on the underlay that is not a cluster
 *                       host (eth0 198.18.0.250/24, no agent): what containers reach by egress
 *
 * Every device lives inside a lab namespace (the veth ends are created in place with `ip -n`),
 * so removing the namespaces removes everything. Addresses come from 198.18.0.0/15 (RFC 2544,
 * benchmarking), which is never routed; the lab's traffic never leaves its namespaces. (Not
 * TEST-NET-1: CI machines of this kind use 192.0.2.0/24 for their own uplink, and the same
 * address on both sides would confuse anyone reading logs.) State files of the lab (keys,
 * agent data, sockets, logs) go under /run/ovnet-lab/<prefix>/ and are removed with it.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { addNetns, delNetns, exec, ip, ipBatch, listLinks, listNetns, pidsIn } from './netns.js'

export const DEFAULT_PREFIX = 'ovlab'
/** RFC 2544 benchmarking range: never routed anywhere. */
export const UNDERLAY_NET = '198.18.0'
export const UNDERLAY_PREFIX_LEN = 24
const HOST_OFFSET = 10
/** The outside server's address: above every host's (10 + MAX_HOSTS = 210). */
export const OUTSIDE_IP = `${UNDERLAY_NET}.250`
export const MAX_HOSTS = 200
export const LAB_STATE_ROOT = '/run/ovnet-lab'
/** overlay/dataplane.ts names a network's namespace `ovnet-<node name>-<nid prefix>`. */
const OVERLAY_NETNS_PREFIX = 'ovnet-'

export interface LabHost {
  index: number
  /** Short host name, e.g. "h1". */
  name: string
  /**
   * Its namespace, e.g. "ovlab-h1"; also the agent's node name in the lab, so that node names,
   * and the overlay namespaces named after them, are unique across labs.
   */
  ns: string
  /** Underlay address of its eth0. */
  ip: string
}

export interface Lab {
  prefix: string
  underlayNs: string
  hosts: LabHost[]
  /** /run/ovnet-lab/<prefix>: keys, agent data, sockets and logs of this lab. */
  stateDir: string
  /** The outside server (created with `outside: true`). */
  outside?: { ns: string, ip: string }
}

export class LabExistsError extends Error {
  constructor (readonly prefix: string, readonly namespaces: string[]) {
    super(`a lab with prefix "${prefix}" already exists (${namespaces.join(', ')}); remove it first`)
    this.name = 'LabExistsError'
  }
}

/** Short, so that namespace names stay readable; letters and digits only, so `<prefix>-` is unambiguous. */
export function checkPrefix (prefix: string): void {
  if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) {
    throw new Error(`lab prefix "${prefix}" must be 2-12 lower-case letters or digits, starting with a letter`)
  }
}

export function hostOf (prefix: string, index: number): LabHost {
  return { index, name: `h${index}`, ns: `${prefix}-h${index}`, ip: `${UNDERLAY_NET}.${HOST_OFFSET + index}` }
}

export function labOf (prefix: string, hosts: number): Lab {
  return {
    prefix,
    underlayNs: `${prefix}-underlay`,
    hosts: Array.from({ length: hosts }, (_, i) => hostOf(prefix, i + 1)),
    stateDir: join(LAB_STATE_ROOT, prefix)
  }
}

/** The lab's namespaces that exist now (hosts, underlay, containers, anything `<prefix>-…`). */
export async function labNamespaces (prefix: string): Promise<string[]> {
  checkPrefix(prefix)
  return (await listNetns()).filter(n => n.startsWith(`${prefix}-`)).sort()
}

export interface CreateLabOptions {
  hosts: number
  prefix?: string
  /** Add `<prefix>-outside`, a server on the underlay that is no cluster host (for egress). */
  outside?: boolean
}

/**
 * Build the lab. Refuses if namespaces of that prefix exist; on any failure removes what it
 * created and rethrows.
 */
export async function createLab (opts: CreateLabOptions): Promise<Lab> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX
  checkPrefix(prefix)
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_HOSTS) {
    throw new Error(`a lab has 1-${MAX_HOSTS} hosts, not ${opts.hosts}`)
  }
  const existing = await labNamespaces(prefix)
  if (existing.length > 0) throw new LabExistsError(prefix, existing)
  const lab = labOf(prefix, opts.hosts)
  try {
    await addNetns(lab.underlayNs)
    await ipBatch(lab.underlayNs, ['link add br0 type bridge', 'link set br0 up'])
    for (const h of lab.hosts) {
      await addNetns(h.ns)
      // Create the pair inside the host namespace with its peer straight in the underlay one:
      // no device ever exists in the root namespace, so a crash cannot leave one there.
      await ipBatch(h.ns, [
        `link add eth0 type veth peer name ${h.name} netns ${lab.underlayNs}`,
        `addr add ${h.ip}/${UNDERLAY_PREFIX_LEN} dev eth0`,
        'link set eth0 up'
      ])
      await ipBatch(lab.underlayNs, [`link set ${h.name} master br0`, `link set ${h.name} up`])
    }
    if (opts.outside === true) {
      lab.outside = { ns: `${prefix}-outside`, ip: OUTSIDE_IP }
      await addNetns(lab.outside.ns)
      await ipBatch(lab.outside.ns, [
        `link add eth0 type veth peer name outside netns ${lab.underlayNs}`,
        `addr add ${OUTSIDE_IP}/${UNDERLAY_PREFIX_LEN} dev eth0`,
        'link set eth0 up'
      ])
      await ipBatch(lab.underlayNs, ['link set outside master br0', 'link set outside up'])
    }
  } catch (err) {
    await destroyLab(prefix)
    throw err
  }
  return lab
}

/** A "container": an empty namespace with lo up, named `<prefix>-<host>-<name>`. */
export async function createContainer (prefix: string, host: string, name: string): Promise<string> {
  checkPrefix(prefix)
  if (!/^[a-z0-9][a-z0-9_-]{0,30}$/.test(name)) throw new Error(`container name "${name}" must be lower-case letters, digits, "-" or "_"`)
  const ns = `${prefix}-${host}-${name}`
  await addNetns(ns)
  return ns
}

export async function removeContainer (ns: string): Promise<void> {
  await stopProcessesIn(ns)
  await delNetns(ns)
}

/**
 * SIGTERM the processes inside a namespace (the lab's agents and pings, by pid), wait for them,
 * then SIGKILL what is left. A namespace is only freed once its last process is gone.
 */
export async function stopProcessesIn (ns: string, graceMs = 5000): Promise<void> {
  let pids = await pidsIn(ns)
  if (pids.length === 0) return
  for (const pid of pids) signal(pid, 'SIGTERM')
  const until = Date.now() + graceMs
  while (pids.length > 0 && Date.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 100))
    pids = pids.filter(alive)
  }
  for (const pid of pids) signal(pid, 'SIGKILL')
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch { /* already gone */ }
}

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

/**
 * Remove every namespace named `<prefix>-…` (stopping the processes in them first), any root
 * namespace link named `<prefix>-…`, and the lab's state directory. Idempotent, and works on
 * the remains of a crashed run as well as on a complete lab.
 */
export async function destroyLab (prefix: string): Promise<void> {
  checkPrefix(prefix)
  const namespaces = await labNamespaces(prefix)
  // Containers and hosts first, so agents stop while their underlay still carries their leave.
  const ordered = [...namespaces.filter(n => n !== `${prefix}-underlay`), ...namespaces.filter(n => n === `${prefix}-underlay`)]
  await Promise.all(ordered.map(async ns => { await stopProcessesIn(ns) }))
  for (const ns of ordered) await delNetns(ns)
  // The overlay driver's per-network namespaces of the lab's agents (`ovnet-<node>-<nid>`, and
  // the lab names its agents after their host namespace). A graceful agent stop removes them;
  // this catches what a killed agent left.
  for (const ns of await listNetns()) {
    if (ns.startsWith(`${OVERLAY_NETNS_PREFIX}${prefix}-`)) await delNetns(ns)
  }
  // The lab never creates root-namespace devices; this sweeps up after older or foreign tools
  // that did. Only `<prefix>-…` names: a bare prefix could match a real device ("ve" → "veth0").
  for (const link of await listLinks(undefined)) {
    if (link.startsWith(`${prefix}-`)) await exec('ip', ['link', 'del', link])
  }
  await rm(join(LAB_STATE_ROOT, prefix), { recursive: true, force: true })
}

export interface HostStatus {
  ns: string
  ip: string | undefined
  up: boolean
  processes: number
}

export interface LabStatus {
  prefix: string
  namespaces: string[]
  underlay: { ns: string, bridgePorts: string[] } | undefined
  hosts: HostStatus[]
  containers: string[]
}

/** What of the lab exists now; a lab left over by a crash shows up too. */
export async function labStatus (prefix: string = DEFAULT_PREFIX): Promise<LabStatus> {
  const namespaces = await labNamespaces(prefix)
  const underlayNs = `${prefix}-underlay`
  let underlay: LabStatus['underlay']
  if (namespaces.includes(underlayNs)) {
    const out = await ip(underlayNs, ['-json', 'link', 'show', 'master', 'br0']).catch(() => '[]')
    underlay = { ns: underlayNs, bridgePorts: (JSON.parse(out === '' ? '[]' : out) as Array<{ ifname: string }>).map(l => l.ifname) }
  }
  const hostRe = new RegExp(`^${prefix}-h\\d+$`)
  const hosts: HostStatus[] = []
  for (const ns of namespaces.filter(n => hostRe.test(n))) {
    const out = await ip(ns, ['-json', 'addr', 'show', 'dev', 'eth0']).catch(() => '[]')
    const links = JSON.parse(out === '' ? '[]' : out) as Array<{ operstate?: string, addr_info?: Array<{ family: string, local: string }> }>
    const eth0 = links[0]
    hosts.push({
      ns,
      ip: eth0?.addr_info?.find(a => a.family === 'inet')?.local,
      up: eth0?.operstate === 'UP',
      processes: (await pidsIn(ns)).length
    })
  }
  hosts.sort((a, b) => Number(a.ns.slice(a.ns.lastIndexOf('h') + 1)) - Number(b.ns.slice(b.ns.lastIndexOf('h') + 1)))
  const containers = namespaces.filter(n => n !== underlayNs && !hostRe.test(n))
  return { prefix, namespaces, underlay, hosts, containers }
}
