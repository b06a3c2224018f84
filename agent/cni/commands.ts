/**
 * ADD, DEL, CHECK, STATUS and GC of the ovnet CNI plugin over the agent's control API. An
 * attachment is an ordinary ovnet endpoint keyed by (CNI_CONTAINERID, CNI_IFNAME) and the CNI
 * network name: the agent plumbs it exactly as `ovnet attach` does, publishes it cluster-wide,
 * remembers it across a crash, and the agent's IPAM gives its address.
 *
 * Agent failures map to CNI codes: not reachable (no socket, refused, no answer in time) is 11,
 * "try again later"; an unknown network or a value the agent refuses is 7, invalid config.
 */
import { statSync } from 'node:fs'
import type { AgentUnavailableError, ApiClient, ApiError } from '../api-client.js'
import type { AttachmentView, AttachRequest } from '../api-types.js'
import type { NetConf } from './config.js'
import type { CmdArgs } from './env.js'
import type { NetnsInspector } from './netns-check.js'
import { CniError, ErrorCode, resultFor, versionAtLeast, type CniResult, type CniRoute } from './protocol.js'

/** What the plugin asks of the agent (ApiClient's methods). */
export type AgentPort = Pick<ApiClient, 'attach' | 'detach' | 'attachments'>

export interface CommandDeps {
  agent: AgentPort
  inspector: NetnsInspector
  /** "dev:ino" of a namespace file, undefined when it does not exist (the plugin's: /proc/self/ns/net). */
  nsId?: (path: string) => string | undefined
}

const isApiError = (e: unknown): e is ApiError => e instanceof Error && e.name === 'ApiError'
const isUnavailable = (e: unknown): e is AgentUnavailableError =>
  e instanceof Error && e.name === 'AgentUnavailableError'
const notFound = (e: unknown): boolean =>
  isApiError(e) && (e.type === 'ErrNoSuchEndpoint' || e.type === 'ErrNoSuchNetwork')
const E = ErrorCode

/** CHECK needs 0.4.0, STATUS and GC 1.1.0 (code 1 below, as Go's skel). */
function requireVersion (conf: NetConf, min: string, command: string): void {
  if (versionAtLeast(conf.cniVersion, min)) return
  throw new CniError(E.incompatibleVersion, `config version does not allow ${command}`)
}

/** Any failure of an agent call as a CniError. */
export function agentError (err: unknown, conf: NetConf): CniError {
  if (err instanceof CniError) return err
  if (isUnavailable(err)) return new CniError(E.tryAgainLater, 'the ovnet agent is not reachable', err.message)
  if (isApiError(err)) {
    if (err.type === 'ErrNoSuchNetwork') {
      return new CniError(E.invalidConfig, `ovnet network ${conf.network} does not exist`, err.message)
    }
    if (err.status === 400) return new CniError(E.invalidConfig, 'the ovnet agent refused the attachment', err.message)
    return new CniError(E.agentFailed, 'the ovnet agent failed the request', `${err.type}: ${err.message}`)
  }
  // A timeout, or the agent died mid-request (ECONNRESET): it did run, it may be back soon.
  const code = (err as NodeJS.ErrnoException).code
  if ((err instanceof Error && /did not answer/.test(err.message)) || code === 'ECONNRESET' || code === 'EPIPE') {
    return new CniError(E.tryAgainLater, 'the ovnet agent did not answer', (err as Error).message)
  }
  return new CniError(E.internal, (err as Error).message ?? String(err))
}

/**
 * The endpoint's name in `inspect`: Kubernetes' namespace_pod ("_" is in neither DNS-1123 name, and "/" is
 * not allowed in endpoint names), podman's container name, else the container id.
 */
export function endpointName (args: CmdArgs): string {
  const pod = args.args.get('K8S_POD_NAME') ?? ''
  const ns = args.args.get('K8S_POD_NAMESPACE') ?? ''
  // podman passes its container name as both.
  if (pod !== '') return ns !== '' && ns !== pod ? `${ns}_${pod}` : pod
  return `cni-${args.containerId.slice(0, 12)}`
}

function defaultNsId (path: string): string | undefined {
  try {
    const s = statSync(path)
    return `${s.dev}:${s.ino}`
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CniError(E.invalidEnv, `cannot use CNI_NETNS ${path}: ${(err as Error).message}`)
  }
}

function routesOf (gateway: string | undefined): CniRoute[] {
  return gateway === undefined ? [] : [{ dst: '0.0.0.0/0', gw: gateway }]
}

export async function cmdAdd (args: CmdArgs, conf: NetConf, deps: CommandDeps): Promise<CniResult> {
  const nsId = deps.nsId ?? defaultNsId
  const target = nsId(args.netns.includes('/') ? args.netns : `/run/netns/${args.netns}`)
  if (target === undefined) throw new CniError(E.invalidEnv, `CNI_NETNS ${args.netns} does not exist`)
  if (target === nsId('/proc/self/ns/net')) {
    throw new CniError(E.invalidEnv, 'CNI_NETNS is the plugin\'s own network namespace')
  }
  const req: AttachRequest = {
    Netns: args.netns,
    Name: endpointName(args),
    IfName: args.ifName,
    ContainerID: args.containerId,
    CNINetwork: conf.name
  }
  if (conf.mtu !== undefined) req.MTU = conf.mtu
  if (conf.ip !== undefined) req.IP = conf.ip
  if (conf.mac !== undefined) req.MAC = conf.mac
  let res
  try {
    res = await deps.agent.attach(conf.network, req)
  } catch (err) {
    if (isApiError(err) && err.type === 'ErrInvalidJoin') {
      const what = `container ${args.containerId} already has ${args.ifName} in ovnet network ${conf.network}`
      throw new CniError(E.agentFailed, what, err.message)
    }
    throw agentError(err, conf)
  }
  return resultFor(conf.cniVersion, {
    interfaces: [{
      name: args.ifName, mac: res.MacAddress, ...(conf.mtu === undefined ? {} : { mtu: conf.mtu }), sandbox: args.netns
    }],
    ips: [{ address: res.IPv4Address, ...(res.Gateway === undefined ? {} : { gateway: res.Gateway }), interface: 0 }],
    routes: routesOf(res.Gateway),
    ...(conf.dns === undefined ? {} : { dns: conf.dns })
  })
}

/** Idempotent: an attachment (or network) the agent does not have is already deleted. */
export async function cmdDel (args: CmdArgs, conf: NetConf, deps: CommandDeps): Promise<void> {
  try {
    await deps.agent.detach(conf.network, { ContainerID: args.containerId, IfName: args.ifName })
  } catch (err) {
    if (notFound(err)) return
    throw agentError(err, conf)
  }
}

async function attachmentsOf (conf: NetConf, deps: CommandDeps): Promise<AttachmentView[]> {
  try {
    return await deps.agent.attachments(conf.network)
  } catch (err) {
    throw agentError(err, conf)
  }
}

export async function cmdCheck (args: CmdArgs, conf: NetConf, deps: CommandDeps): Promise<void> {
  requireVersion(conf, '0.4.0', 'CHECK')
  const prev = conf.prevResult
  if (prev === undefined) throw new CniError(E.invalidConfig, 'CHECK needs prevResult (the result of ADD)')
  const who = `${args.ifName} of container ${args.containerId}`
  const all = await attachmentsOf(conf, deps)
  const mine = all.find(a => a.ContainerID === args.containerId && a.IfName === args.ifName)
  if (mine === undefined) throw new CniError(E.attachmentUnknown, `the ovnet agent has no attachment ${who}`)
  const broken = (why: string): CniError => new CniError(E.attachmentBroken, `${who}: ${why}`)
  const prevIps = (prev.ips ?? []).map(i => i.address)
  if (!prevIps.includes(mine.IPv4Address)) {
    throw broken(`the agent holds ${mine.IPv4Address}, prevResult says ${prevIps.join(', ') || 'nothing'}`)
  }
  const prevMac = (prev.interfaces ?? []).find(i => i.name === args.ifName && (i.sandbox ?? '') !== '')?.mac
  if (prevMac !== undefined && prevMac.toLowerCase() !== mine.MacAddress) {
    throw broken(`the agent holds MAC ${mine.MacAddress}, prevResult says ${prevMac}`)
  }

  let view
  try {
    view = await deps.inspector.inspect(args.netns, args.ifName)
  } catch (err) {
    throw broken(`cannot read the container namespace: ${(err as Error).message}`)
  }
  if (view.link === undefined) throw broken('no such interface in the container')
  if (!view.link.up) throw broken('the interface is down')
  const { link } = view
  if (link.mac.toLowerCase() !== mine.MacAddress) throw broken(`MAC is ${link.mac}, expected ${mine.MacAddress}`)
  if (!view.addresses.includes(mine.IPv4Address)) {
    throw broken(`address ${mine.IPv4Address} missing (has ${view.addresses.join(', ') || 'none'})`)
  }
  if (conf.mtu !== undefined && link.mtu !== conf.mtu) throw broken(`MTU is ${link.mtu}, expected ${conf.mtu}`)
  // Routes ovnet itself set; later plugins of a chain may add others (not an error).
  for (const r of prev.routes ?? []) {
    const gw = r.gw ?? (prev.ips ?? []).find(i => i.gateway !== undefined)?.gateway
    const have = view.routes.some(k => k.dst === r.dst && (gw === undefined || k.gw === gw))
    if (!have) throw broken(`route ${r.dst}${gw === undefined ? '' : ` via ${gw}`} missing`)
  }
}

/** STATUS: ready when the agent answers and knows the network. */
export async function cmdStatus (conf: NetConf, deps: CommandDeps): Promise<void> {
  requireVersion(conf, '1.1.0', 'STATUS')
  try {
    await deps.agent.attachments(conf.network)
  } catch (err) {
    const e = agentError(err, conf)
    throw new CniError(E.pluginNotAvailable, e.message, e.details)
  }
}

/**
 * GC: detach this host's attachments made through this CNI network that are not in
 * `cni.dev/valid-attachments`. Endpoints of `ovnet attach`, Docker or another CNI network name
 * (another runtime sharing the ovnet network) are not touched. Errors do not stop the sweep.
 */
export async function cmdGc (conf: NetConf, deps: CommandDeps): Promise<string[]> {
  requireVersion(conf, '1.1.0', 'GC')
  const valid = new Set((conf.validAttachments ?? []).map(a => `${a.containerID}\n${a.ifname}`))
  let all: AttachmentView[]
  try {
    all = await deps.agent.attachments(conf.network)
  } catch (err) {
    if (notFound(err)) return []
    throw agentError(err, conf)
  }
  const stale = all.filter(a =>
    a.CNINetwork === conf.name && a.ContainerID !== undefined && !valid.has(`${a.ContainerID}\n${a.IfName}`))
  const removed: string[] = []
  const failed: string[] = []
  for (const a of stale) {
    try {
      await deps.agent.detach(conf.network, { ContainerID: a.ContainerID!, IfName: a.IfName })
      removed.push(a.EndpointID)
    } catch (err) {
      if (notFound(err)) continue
      failed.push(`${a.ContainerID!} ${a.IfName}: ${agentError(err, conf).details || (err as Error).message}`)
    }
  }
  if (failed.length > 0) {
    throw new CniError(E.agentFailed, `GC could not detach ${failed.length} stale attachment(s)`, failed.join('; '))
  }
  return removed
}
