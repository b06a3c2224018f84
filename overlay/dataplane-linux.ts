/**
 * Linux Dataplane over iproute2. Every operation is a few processes at most: reads with
 * `-json`, writes as one `-batch -` per namespace and tool, never one process per FDB entry.
 *
 * Each agent acts on behalf of a host namespace (`hostNetns`; undefined = the namespace the agent
 * runs in), so several agents share one kernel in the netns lab. The vxlan device is created in
 * that host namespace and then moved into the sandbox, as Docker does: a vxlan device keeps the
 * namespace it was created in for its UDP socket, so the tunnel lives on the host's underlay while
 * the device sits on the sandbox's bridge.
 */
import { isIP } from 'node:net'
import { randomBytes } from 'node:crypto'
import { readFileSync, statfsSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { rmdir, stat } from 'node:fs/promises'
import { silentLogger, type Logger } from '../core/index.js'
import {
  DataplaneError, endpointKey, SANDBOX_BRIDGE as BR, SANDBOX_UPLINK, SANDBOX_VXLAN as VX,
  type Dataplane, type EndpointSpec, type FdbEntry, type NeighEntry, type PeerOp, type PeerTables, type SandboxSpec,
  type SandboxState
} from './dataplane.js'
import { commandError, Iproute, isAbsentError, type BatchResult, type IprouteOptions } from './iproute.js'

export interface LinuxDataplaneOptions extends IprouteOptions {
  /** Host namespace this agent operates from (its underlay); undefined = the agent's own. */
  hostNetns?: string
  /** Where repairs of stale or foreign kernel objects are reported. */
  logger?: Logger
}


interface AddrInfo { family?: string, local?: string, prefixlen?: number, scope?: string }
interface LinkJson {
  ifname: string
  ifalias?: string
  mtu?: number
  master?: string
  linkinfo?: { info_kind?: string, info_data?: { id?: number, local?: string, port?: number, learning?: boolean,
    proxy?: boolean } }
  addr_info?: AddrInfo[]
}
interface FdbJson { mac?: string, dst?: string, master?: string, flags?: string[], state?: string }
interface NeighJson { dst?: string, lladdr?: string, state?: string[] }

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/
/** A name in /run/netns or an absolute path (nsenter --net=); never an option (`-x`), never `..`. */
const NETNS_RE = /^[A-Za-z0-9._/:@+][A-Za-z0-9._/:@+-]{0,254}$/
/** Linux's dev_valid_name, and no option-like leading `-`. */
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,14}$/
const OWNER_RE = /^[A-Za-z0-9._:/-]{1,200}$/
const HOST_PREFIX = 've-'
const PEER_PREFIX = 'vc-'

/**
 * Devices a sandbox holds: lo, the bridge, the vxlan device, endpoint veths (ve-*) and the egress
 * uplink (its veth is the agent's: removing it as a stray broke egress at every periodic repair).
 */
const isSandboxDevice = (l: LinkJson): boolean =>
  l.ifname === 'lo' || (l.ifname === BR && l.linkinfo?.info_kind === 'bridge') || l.ifname === VX ||
  ((l.ifname.startsWith(HOST_PREFIX) || l.ifname === SANDBOX_UPLINK) && l.linkinfo?.info_kind === 'veth')

function invalid (what: string, v: unknown): never {
  throw new DataplaneError('invalid', `invalid ${what}: ${JSON.stringify(v)}`)
}
/** A random unicast, locally administered MAC. */
function bridgeMac (): string {
  const b = randomBytes(6)
  b[0] = (b[0]! & 0xfc) | 0x02
  return [...b].map(x => x.toString(16).padStart(2, '0')).join(':')
}
function mac (m: string): string { return MAC_RE.test(m) ? m : invalid('MAC address', m) }
function ip (a: string): string { return isIP(a) !== 0 ? a : invalid('IP address', a) }
function cidr (c: string): string {
  const [a, len, extra] = c.split('/')
  if (a === undefined || len === undefined || extra !== undefined || isIP(a) === 0 || !/^\d{1,3}$/.test(len)) {
    invalid('CIDR address', c)
  }
  if (Number(len) > (isIP(a) === 4 ? 32 : 128)) invalid('CIDR prefix length', c)
  return c
}
function netns (n: string): string { return NETNS_RE.test(n) && !n.includes('..') ? n : invalid('namespace', n) }
/** A sandbox is a name in /run/netns (ip netns add / del): no path. */
function sandboxNs (n: string): string { return netns(n).includes('/') ? invalid('sandbox name', n) : n }
function ifname (n: string): string { return IFNAME_RE.test(n) ? n : invalid('interface name', n) }
function mtu (m: number): number { return Number.isInteger(m) && m >= 576 && m <= 65535 ? m : invalid('MTU', m) }

/** Fail on every batch failure except "already absent" on the lines `mayBeAbsent` accepts. */
function requireOk (
  r: BatchResult,
  lines: readonly string[],
  what: string,
  netnsName: string | undefined,
  mayBeAbsent: (line: string) => boolean = () => false
): void {
  if (r.aborted) throw commandError(what, netnsName, r.stderr)
  const bad = r.failures.filter(f => !(mayBeAbsent(lines[f.line - 1] ?? '') && isAbsentError(f.message)))
  if (bad.length > 0) {
    const detail = bad.map(f => `${lines[f.line - 1] ?? '?'}: ${f.message}`).join('; ')
    throw commandError(what, netnsName, detail)
  }
}

const isDelete = (line: string): boolean => / del /.test(` ${line} `)

export class LinuxDataplane implements Dataplane {
  private readonly ipr: Iproute
  private readonly host: string | undefined
  private readonly log: Logger

  constructor (opts: LinuxDataplaneOptions = {}) {
    this.ipr = new Iproute({ persistent: true, ...opts })
    this.log = opts.logger ?? silentLogger
    this.host = opts.hostNetns === undefined ? undefined : netns(opts.hostNetns)
  }

  // ---- sandbox -----------------------------------------------------------------------------------

  async ensureSandbox (spec: SandboxSpec): Promise<boolean> {
    const name = sandboxNs(spec.name)
    const m = mtu(spec.mtu)
    ip(spec.vtep)
    if (spec.gateway !== undefined) cidr(spec.gateway)
    if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 16_777_215) invalid('VNI', spec.vni)
    if (!Number.isInteger(spec.dstPort) || spec.dstPort < 1 || spec.dstPort > 65535) invalid('UDP port', spec.dstPort)
    if (spec.owner !== undefined && !OWNER_RE.test(spec.owner)) invalid('owner tag', spec.owner)

    // A name made anew since (deleted by hand, a crash): its old processes hold the dead namespace,
    // and with it a vxlan device keeping the VNI busy.
    this.ipr.dropStaleSessions(name)
    const found = await this.openSandbox(name)
    // Whatever else is in there (a previous run's half-made vxlan device, something put in by
    // hand, a "br0" that is no bridge) could hold the VNI, the gateway address or bridge traffic.
    const strays = found.filter(l => !isSandboxDevice(l))
    if (strays.length > 0) {
      this.log.warn({ sandbox: name, devices: strays.map(l => `${l.ifname} (${l.linkinfo?.info_kind ?? 'device'})`) },
        'removing unexpected devices from a sandbox')
      const del = strays.map(l => `link del ${l.ifname}`)
      requireOk(await this.ipr.batch('ip', name, del), del, 'sandbox cleanup', name, isDelete)
    }
    const links = found.filter(isSandboxDevice)
    const vx = links.find(l => l.ifname === VX)
    const br = links.find(l => l.ifname === BR)
    const lines = ['link set lo up']

    const fresh = vx === undefined || !vxlanMatches(vx, spec)
    if (fresh) {
      if (vx !== undefined) await this.ipr.check('ip', name, ['link', 'del', VX])
      const tmp = await this.createVxlanInHost(spec, name)
      lines.push(`link set ${tmp} name ${VX}`, `link set ${VX} mtu ${m}`)
    } else if (vx.mtu !== m) {
      lines.push(`link set ${VX} mtu ${m}`)
    }
    // The bridge's MAC is set, never inherited: a bridge without one takes the lowest MAC of its
    // ports, so an endpoint joining with a lower one changed the gateway's MAC under the other
    // containers, whose ARP caches then pointed at a MAC the bridge no longer takes as its own
    // (their gateway traffic, DNS and egress, was dropped until ARP re-resolved; found by
    // bench:dns). A MAC given at creation is kept. Not re-set on an existing bridge: every
    // address change flushes its neighbour table; a sandbox made by an older agent keeps the old
    // behaviour until it is made anew.
    if (br === undefined) lines.push(`link add ${BR} mtu ${m} address ${bridgeMac()} type bridge`)
    else if (br.mtu !== m) lines.push(`link set ${BR} mtu ${m}`)
    lines.push(`link set ${VX} master ${BR}`, `link set ${VX} up`, `link set ${BR} up`)
    if (spec.owner !== undefined && br?.ifalias !== spec.owner) lines.push(`link set ${BR} alias ${spec.owner}`)

    const have = (br?.addr_info ?? []).filter(a => a.family === 'inet').map(a => `${a.local}/${a.prefixlen}`)
    for (const a of have) if (a !== spec.gateway) lines.push(`addr del ${a} dev ${BR}`)
    if (spec.gateway !== undefined && !have.includes(spec.gateway)) lines.push(`addr replace ${spec.gateway} dev ${BR}`)

    // The periodic repair's lines only restate what is there: the sandbox's long-lived process
    // (it also takes the FDB/neighbour batches). Not a batch that renames a new vxlan device or
    // adds a bridge: it may run again on a new process (stale device index), and those lines
    // would fail the second time.
    const r = await this.ipr.batch('ip', name, lines, { hot: !fresh && br !== undefined })
    requireOk(r, lines, 'sandbox setup', name, isDelete)
    return fresh
  }

  /** Create the vxlan device in the host namespace (its socket stays there) and move it in. */
  private async createVxlanInHost (spec: SandboxSpec, name: string, clean = false): Promise<string> {
    // A crash between create and move leaves a device holding the VNI in the host namespace; the
    // kernel then refuses the VNI ("already exists"): remove such strays and try again (looked for
    // only then: one process less on every sandbox's set-up).
    const strays = !clean
      ? []
      : (await this.ipr.json<LinkJson>('ip', this.host, ['-d', 'link', 'show', 'type', 'vxlan']))
          .filter(l => l.ifname.startsWith('vx-') && l.linkinfo?.info_data?.id === spec.vni)
    const tmp = `vx-${spec.vni.toString(16).padStart(6, '0')}-${randomBytes(2).toString('hex')}`
    const lines = [
      ...strays.map(l => `link del ${l.ifname}`),
      `link add ${tmp} mtu ${spec.mtu} type vxlan id ${spec.vni} local ${spec.vtep} dstport ${spec.dstPort} ` +
        'nolearning proxy',
      `link set ${tmp} netns ${name}`
    ]
    const r = await this.ipr.batch('ip', this.host, lines)
    if (r.aborted || r.failures.length > 0) {
      // Do not leave the new device behind in the host namespace if the move failed.
      await this.ipr.batch('ip', this.host, [`link del ${tmp}`])
      const add = r.failures.find(f => f.line === strays.length + 1)
      if (!clean && add !== undefined && /File exists|already exists/.test(add.message)) {
        return await this.createVxlanInHost(spec, name, true)
      }
    }
    requireOk(r, lines, 'vxlan setup', this.host, isDelete)
    return tmp
  }

  /**
   * The sandbox's devices, creating its namespace if needed. A name that exists but is no network
   * namespace (stale /run/netns file, foreign file) is removed and the namespace made anew.
   */
  private async openSandbox (name: string): Promise<LinkJson[]> {
    // A namespace made just now holds nothing but lo: no process to read it (the first `ip -n`
    // into a new namespace is the slowest of a sandbox's set-up).
    if (await this.ensureNetns(name)) return [{ ifname: 'lo' }]
    try {
      return await this.readLinks(name)
    } catch (e) {
      if (!(e instanceof DataplaneError && e.code === 'not-netns')) throw e
      this.log.warn({ sandbox: name, detail: e.detail }, 'sandbox name is no network namespace: re-creating it')
      await this.removeNetnsFile(name)
      await this.ensureNetns(name)
      return await this.readLinks(name)
    }
  }

  /**
   * Remove /run/netns/NAME however it is broken: `ip netns del` unmounts and unlinks a file; an empty directory goes
   * too.
   */
  private async removeNetnsFile (name: string): Promise<void> {
    const r = await this.ipr.run(this.ipr.argv('ip', undefined, ['netns', 'del', name]))
    if (r.code === 0 || isAbsentError(r.stderr)) return
    const path = `/run/netns/${name}`
    if ((await stat(path).catch(() => undefined))?.isDirectory() === true) {
      await rmdir(path)
      return
    }
    throw commandError(`netns del ${name}`, undefined, r.stderr)
  }

  /** Create the namespace unless it exists; true when it was created now. */
  private async ensureNetns (name: string): Promise<boolean> {
    // A namespace already mounted there (every periodic repair): nothing to run.
    if (isNetnsMount(`/run/netns/${name}`)) return false
    // Always in the agent's own mount namespace: `ip -n` would create the mount privately.
    const r = await this.ipr.run(this.ipr.argv('ip', undefined, ['netns', 'add', name]))
    if (r.code === 0) return true
    if (!/File exists/.test(r.stderr)) throw commandError(`netns add ${name}`, undefined, r.stderr)
    return false
  }

  async removeSandbox (name: string): Promise<void> {
    sandboxNs(name)
    // Processes inside the namespace would keep it (and its vxlan device, holding the VNI) alive.
    this.ipr.endSessions(name)
    let links: LinkJson[]
    try {
      links = await this.readLinks(name)
    } catch (e) {
      if (e instanceof DataplaneError && e.code === 'no-netns') return
      if (e instanceof DataplaneError && e.code === 'not-netns') {
        await this.removeNetnsFile(name)
        return
      }
      throw e
    }
    // Delete the devices explicitly: a namespace is torn down asynchronously, and until then its
    // vxlan device would keep the VNI busy in the host namespace (a quick re-create would fail).
    const lines = links
      .filter(l => l.ifname.startsWith(HOST_PREFIX) || l.ifname === VX || l.ifname === BR)
      .sort((a, b) => order(a.ifname) - order(b.ifname))
      .map(l => `link del ${l.ifname}`)
    requireOk(await this.ipr.batch('ip', name, lines), lines, 'sandbox teardown', name, isDelete)
    this.ipr.endSessions(name)
    const r = await this.ipr.run(this.ipr.argv('ip', undefined, ['netns', 'del', name]))
    if (r.code !== 0 && !isAbsentError(r.stderr)) throw commandError(`netns del ${name}`, undefined, r.stderr)
  }

  // ---- endpoints ---------------------------------------------------------------------------------

  async addEndpoint (spec: EndpointSpec): Promise<void> {
    const sb = sandboxNs(spec.sandbox)
    const dev = ifname(spec.ifName)
    const m = mtu(spec.mtu)
    mac(spec.mac)
    cidr(spec.address)
    if (spec.gateway !== undefined) ip(spec.gateway)
    const key = endpointKey(spec.eid)
    ifname(`${HOST_PREFIX}${key}`)
    const hostIf = `${HOST_PREFIX}${key}`
    if (spec.handoff === true) {
      await this.addHandoffEndpoint(sb, hostIf, dev, m, spec.mac)
      return
    }
    const ctr = netns(spec.containerNetns)
    const peerIf = `${PEER_PREFIX}${key}`

    // REPLACE semantics: an existing pair (an earlier attempt, a previous run) is rebuilt: deleted
    // first when the add finds it ("File exists"; the lines after the failed add only touched
    // the old pair). A container namespace by name goes through the sandbox's long-lived process
    // (names in /run/netns reach it: that mount is shared); one by path, a process of its own.
    const hot = !ctr.includes('/')
    const add = [
      `link add ${hostIf} mtu ${m} type veth peer name ${peerIf} mtu ${m} netns ${ctr}`,
      `link set ${hostIf} master ${BR}`,
      `link set ${hostIf} up`
    ]
    let sbLines = add
    let r = await this.ipr.batch('ip', sb, sbLines, { hot })
    if (!r.aborted && r.failures.some(f => f.line === 1 && /File exists/.test(f.message))) {
      sbLines = [`link del ${hostIf}`, ...add]
      r = await this.ipr.batch('ip', sb, sbLines, { hot })
    }
    if (r.aborted) throw commandError('endpoint setup', sb, r.stderr)
    const addFailed = r.failures.find(f => sbLines[f.line - 1]?.startsWith('link add ') === true)
    if (addFailed !== undefined && /netns|namespace/i.test(addFailed.message)) {
      throw new DataplaneError('no-netns', `container namespace ${ctr} does not exist`, addFailed.message)
    }
    requireOk(r, sbLines, 'endpoint setup', sb, isDelete)

    const ctrLines = [
      `link set ${peerIf} name ${dev}`,
      `link set ${dev} address ${spec.mac}`,
      `addr replace ${spec.address} dev ${dev}`,
      `link set ${dev} up`,
      'link set lo up'
    ]
    if (spec.gateway !== undefined) ctrLines.push(`route replace default via ${spec.gateway} dev ${dev}`)
    // Stop at a failure: when the container already has an interface of that name, the rename
    // fails and the lines after it would configure THAT interface (CNI: it must be an error).
    const c = await this.ipr.batch('ip', ctr, ctrLines, { stopAtFailure: true })
    try {
      requireOk(c, ctrLines, 'container interface setup', ctr)
    } catch (e) {
      await this.ipr.batch('ip', sb, [`link del ${hostIf}`])
      throw e
    }
  }

  /**
   * The pair for a runtime that moves the container side itself (Docker): created in the agent's
   * namespace as `dev` (MAC and MTU set, down, no address) with its peer straight in the sandbox.
   * Nothing is ever deleted in the agent's namespace: a leftover pair goes with its sandbox side,
   * and a foreign device of that name makes the create fail rather than disappear.
   */
  private async addHandoffEndpoint (
    sb: string, hostIf: string, dev: string, m: number, address: string
  ): Promise<void> {
    let links: LinkJson[]
    try {
      links = await this.readLinks(sb)
    } catch (e) {
      throw e instanceof DataplaneError ? this.noSandboxOr(sb, e) : e
    }
    const have = links.find(l => l.ifname === hostIf)
    if (have?.master === BR) {
      // Adopt: the container side may already be inside a container.
      const lines = [`link set ${hostIf} mtu ${m}`, `link set ${hostIf} up`]
      requireOk(await this.ipr.batch('ip', sb, lines), lines, 'endpoint adoption', sb)
      return
    }
    if (have !== undefined) {
      const del = [`link del ${hostIf}`]
      requireOk(await this.ipr.batch('ip', sb, del), del, 'endpoint cleanup', sb, isDelete)
    }
    const add = [`link add ${dev} mtu ${m} address ${address} type veth peer name ${hostIf} mtu ${m} netns ${sb}`]
    requireOk(await this.ipr.batch('ip', this.host, add), add, 'endpoint setup', this.host)
    const sbLines = [`link set ${hostIf} master ${BR}`, `link set ${hostIf} up`]
    const r = await this.ipr.batch('ip', sb, sbLines)
    try {
      requireOk(r, sbLines, 'endpoint setup', sb)
    } catch (e) {
      await this.ipr.batch('ip', sb, [`link del ${hostIf}`])
      throw e
    }
  }

  async removeEndpoint (sandbox: string, eid: string): Promise<void> {
    const sb = sandboxNs(sandbox)
    const lines = [`link del ${ifname(`${HOST_PREFIX}${endpointKey(eid)}`)}`]
    const r = await this.ipr.batch('ip', sb, lines)
    if (r.aborted && isAbsentError(r.stderr)) return
    requireOk(r, lines, 'endpoint teardown', sb, isDelete)
  }

  // ---- FDB and neighbours ----------------------------------------------------------------------

  async apply (sandbox: string, ops: readonly PeerOp[]): Promise<void> {
    const sb = sandboxNs(sandbox)
    const neigh: string[] = []
    const fdb: string[] = []
    for (const o of ops) {
      if (o.kind === 'neigh') {
        neigh.push(o.op === 'add'
          ? `neigh replace ${ip(o.ip)} lladdr ${mac(o.mac)} dev ${VX} nud permanent`
          : `neigh del ${ip(o.ip)} dev ${VX}`)
      } else if (o.op === 'add') {
        fdb.push(`fdb replace ${mac(o.mac)} dev ${VX} dst ${ip(o.dst)} self permanent`)
      } else {
        // Also forget what the bridge learnt of that MAC behind the tunnel port: a stale bridge
        // entry would keep sending the MAC's frames into the tunnel after it reappears elsewhere,
        // e.g. on a local container (moby#50236). Absent entries are fine (isDelete).
        fdb.push(`fdb del ${mac(o.mac)} dev ${VX} self`, `fdb del ${mac(o.mac)} dev ${VX} master`)
      }
    }
    // Neighbours before FDB (as Docker orders adds); the two tables are independent anyway.
    await this.applyNeigh(sb, neigh)
    if (fdb.length > 0) {
      const r = await this.ipr.batch('bridge', sb, fdb, { hot: true })
      if (r.aborted) throw this.noSandboxOr(sb, commandError('fdb batch', sb, r.stderr))
      requireOk(r, fdb, 'fdb batch', sb, isDelete)
    }
  }

  /**
   * `ip neigh` exits on its first error even with -force, so a delete of an entry someone
   * already removed would drop the rest of the batch. On such an abort, read the table, keep
   * only deletes of present entries and run the (idempotent) batch again.
   */
  private async applyNeigh (sb: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return
    const r = await this.ipr.batch('ip', sb, lines, { hot: true })
    if (!r.aborted && r.failures.length === 0) return
    if (/Cannot open network namespace/.test(r.stderr)) {
      throw this.noSandboxOr(sb, commandError('neigh batch', sb, r.stderr))
    }
    const present = new Set((await this.readNeigh(sb)).map(n => n.ip))
    const kept = lines.filter(l => !l.startsWith('neigh del ') || present.has(l.split(' ')[2] ?? ''))
    const again = await this.ipr.batch('ip', sb, kept, { hot: true })
    requireOk(again, kept, 'neigh batch', sb)
  }

  private noSandboxOr (sb: string, e: DataplaneError): DataplaneError {
    return e.code === 'no-netns' ? new DataplaneError('no-sandbox', `sandbox ${sb} does not exist`, e.detail) : e
  }

  async readTables (sandbox: string): Promise<PeerTables> {
    const sb = sandboxNs(sandbox)
    try {
      const [fdb, neigh] = await Promise.all([this.readFdb(sb), this.readNeigh(sb)])
      return { fdb, neigh }
    } catch (e) {
      throw e instanceof DataplaneError ? this.noSandboxOr(sb, e) : e
    }
  }

  private async readFdb (sb: string): Promise<FdbEntry[]> {
    const rows = await this.ipr.json<FdbJson>('bridge', sb, ['fdb', 'show', 'dev', VX])
    const out: FdbEntry[] = []
    for (const r of rows) {
      // Only the vxlan device's own remote entries: skip the bridge's learnt (master) entries
      // and the device's address-list entries (no dst).
      if (r.mac === undefined || r.dst === undefined || r.master !== undefined) continue
      if (r.flags !== undefined && !r.flags.includes('self')) continue
      out.push({ mac: r.mac, dst: r.dst, permanent: r.state === 'permanent' })
    }
    return out
  }

  private async readNeigh (sb: string): Promise<NeighEntry[]> {
    const rows = await this.ipr.json<NeighJson>('ip', sb, ['neigh', 'show', 'dev', VX, 'nud', 'all'])
    // Multicast entries (IPv6 MLD groups of the device) are the kernel's own mappings, not peers.
    return rows
      .filter(r => r.dst !== undefined && !isMulticast(r.dst))
      .map(r => ({ ip: r.dst as string, mac: r.lladdr, permanent: (r.state ?? []).includes('PERMANENT') }))
  }

  /** End the long-lived iproute2 processes (agent stop). */
  close (): void {
    this.ipr.endAllSessions()
  }

  // ---- discovery ---------------------------------------------------------------------------------

  async listSandboxes (prefix: string): Promise<SandboxState[]> {
    const list = await this.ipr.json<{ name?: string }>('ip', undefined, ['netns', 'list'])
    const names = list.map(n => n.name ?? '').filter(n => n.startsWith(prefix))
    const out: SandboxState[] = []
    for (const name of names) {
      let links: LinkJson[]
      try {
        links = await this.readLinks(name)
      } catch (e) {
        if (e instanceof DataplaneError && e.code === 'no-netns') continue
        if (e instanceof DataplaneError && e.code === 'not-netns') {
          out.push({ name, owner: undefined, vni: undefined, vtep: undefined, dstPort: undefined, mtu: undefined,
            bridgeAddrs: [], endpoints: [], unusable: e.detail ?? e.message })
          continue
        }
        // One unreadable sandbox must not hide the others (nor stop the agent): skip it; it is
        // brought to spec (or removed) when its network is seen again.
        this.log.warn({ sandbox: name, err: String(e) }, 'cannot read a sandbox; skipping it')
        continue
      }
      const vx = links.find(l => l.ifname === VX && l.linkinfo?.info_kind === 'vxlan')
      const br = links.find(l => l.ifname === BR)
      const data = vx?.linkinfo?.info_data
      out.push({
        name,
        owner: br?.ifalias,
        vni: data?.id,
        vtep: data?.local,
        dstPort: data?.port,
        mtu: vx?.mtu,
        bridgeAddrs: (br?.addr_info ?? []).filter(a => a.family === 'inet').map(a => `${a.local}/${a.prefixlen}`),
        endpoints: links.filter(l => l.ifname.startsWith(HOST_PREFIX)).map(l => l.ifname.slice(HOST_PREFIX.length))
      })
    }
    return out
  }

  async underlayMtu (addr: string): Promise<number | undefined> {
    ip(addr)
    // In the agent's own namespace the kernel says it without a process: the interface holding
    // the address, and its MTU in /sys (mounted for this namespace: systemd's host, or the netns
    // lab's `ip netns exec`). A sandbox's set-up asks it every time.
    if (this.host === undefined) {
      const own = ownMtu(addr)
      if (own !== undefined) return own
    }
    const links = await this.ipr.json<LinkJson>('ip', this.host, ['addr', 'show'])
    return links.find(l => (l.addr_info ?? []).some(a => a.local === addr))?.mtu
  }

  private readLinks (name: string): Promise<LinkJson[]> {
    return this.ipr.json<LinkJson>('ip', name, ['-d', 'addr', 'show'])
  }
}

/**
 * The MTU of the interface of this namespace holding `addr`, from /sys; undefined if unsure. /sys
 * shows the namespace that mounted it, which need not be ours (an agent started by `nsenter
 * --net`): the device there must have the MAC this namespace's interface has (all-zero: no).
 */
function ownMtu (addr: string): number | undefined {
  const found = Object.entries(networkInterfaces())
    .flatMap(([dev, as]) => (as ?? []).filter(a => a.address === addr).map(a => ({ dev, mac: a.mac })))[0]
  if (found === undefined || !IFNAME_RE.test(found.dev) || /^(00:){5}00$/.test(found.mac)) return undefined
  try {
    const sys = `/sys/class/net/${found.dev}`
    if (readFileSync(`${sys}/address`, 'utf8').trim().toLowerCase() !== found.mac.toLowerCase()) return undefined
    const mtu = Number(readFileSync(`${sys}/mtu`, 'utf8').trim())
    return Number.isInteger(mtu) && mtu > 0 ? mtu : undefined
  } catch {
    return undefined
  }
}

/** nsfs' magic number (linux/magic.h): what a bind-mounted namespace file reports. */
const NSFS_MAGIC = 0x6e736673

/** Whether `path` is a mounted namespace file (of some kind: setns tells a wrong kind later). */
function isNetnsMount (path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC
  } catch {
    return false
  }
}

function isMulticast (addr: string): boolean {
  if (isIP(addr) === 6) return /^ff/i.test(addr)
  const first = Number(addr.split('.')[0])
  return first >= 224 && first <= 239
}

function vxlanMatches (l: LinkJson, spec: SandboxSpec): boolean {
  const d = l.linkinfo?.info_data
  return l.linkinfo?.info_kind === 'vxlan' && d !== undefined && d.id === spec.vni && d.local === spec.vtep &&
    d.port === spec.dstPort && d.learning === false && d.proxy === true
}

/** Teardown order: endpoints, then the vxlan device (frees the VNI), then the bridge. */
function order (name: string): number {
  return name.startsWith(HOST_PREFIX) ? 0 : name === VX ? 1 : 2
}
