/**
 * Egress of one host: the uplinks of its networks' sandboxes and its firewall chains, brought to
 * a desired view (what the controller holds: networks with a sandbox here, their internal flag,
 * published ports, every overlay subnet) by full reconciliation. Every apply reads the kernel
 * and writes only what differs, so it is safe to repeat: after each change, after a restart
 * (the rules a killed agent left are adopted and rewritten, never doubled), and periodically
 * (someone flushed a chain or deleted an uplink).
 */
import type { Logger } from '../../core/index.js'
import { sandboxName } from '../../overlay/index.js'
import { BadRequestError } from '../errors.js'
import {
  iptables, reconcileFirewall, restoreBatch, writtenState, type FirewallSpec, type IptablesRunner
} from './firewall.js'
import { checkClashes, probeHostPort, type PortMapping } from './ports.js'
import {
  enableHostForwarding, enableSandboxForwarding, ensureUplink, hostRoutes, hostUplinks, removeUplinks, uplinkName
} from './uplink.js'

export interface EgressEndpoint {
  eid: string
  /** Address without prefix. */
  ip: string
  publish: PortMapping[]
}

export interface EgressNetwork {
  nid: string
  name: string
  subnet: string
  internal: boolean
  /**
   * This host's endpoints in the network; none only while its first attach is being prepared
   * (the sandbox exists then too). A network without a sandbox here is not in the view.
   */
  endpoints: EgressEndpoint[]
}

export interface EgressView {
  networks: EgressNetwork[]
  /** Every network subnet of the cluster. */
  overlaySubnets: string[]
}

/** What the controller calls (absent in the in-memory tests: no kernel, no egress). */
export interface EgressPort {
  /** Refuse bad publications before anything is plumbed: nothing changes on an error. */
  check(
    net: { name: string, internal: boolean }, wanted: readonly PortMapping[], published: readonly PortMapping[]
  ): Promise<void>
  /** Bring the host to the view (idempotent). */
  apply(view: EgressView): Promise<void>
  /** Graceful stop: remove every rule and uplink of ours. */
  stop(): Promise<void>
}

export interface LinuxEgressOptions {
  /** The agent's node name (sandbox names derive from it). */
  nodeName: string
  logger: Logger
  iptables?: IptablesRunner
  /** Re-apply the last view this often (default 60 s; 0 = never). */
  reconcileIntervalMs?: number
}

export class LinuxEgress implements EgressPort {
  private readonly log: Logger
  private readonly ipt: IptablesRunner
  private readonly forwarding = new Set<string>()
  private last: EgressView | undefined
  /** What the kernel holds since the last successful apply (undefined: unknown). */
  private applied: Desired | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  constructor (private readonly o: LinuxEgressOptions) {
    this.log = o.logger.child({ component: 'egress' })
    this.ipt = o.iptables ?? iptables
    const every = o.reconcileIntervalMs ?? 60_000
    if (every > 0) {
      this.timer = setInterval(() => {
        void this.repair().catch((err: unknown) => {
          this.log.warn({ err: String(err) }, 'periodic egress reconcile failed')
        })
      }, every)
      this.timer.unref()
    }
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

  async check (
    net: { name: string, internal: boolean }, wanted: readonly PortMapping[], published: readonly PortMapping[]
  ): Promise<void> {
    checkPublish(net, wanted, published)
    for (const m of wanted) await probeHostPort(m)
  }

  /**
   * Bring the host to `view`. A view that asks the kernel for exactly what the last successful
   * apply wrote (an attach or detach in a network that keeps endpoints here, no port published)
   * changes nothing and reads nothing: five or so processes (ip, iptables-save) less on every
   * attach and detach. Another view, after a successful apply, is written as the difference to
   * what that apply wrote, without reading the kernel first (a host's first attach to a network:
   * its uplink and the firewall batch, four processes less); if that fails, in full. Drift (a
   * flushed chain, a deleted uplink) is the periodic reconcile's, which reads everything.
   */
  async apply (view: EgressView): Promise<void> {
    await this.serial(async () => {
      if (this.stopped) return
      this.last = view
      const want = desired(view)
      const had = this.applied
      if (want.key === had?.key) return
      this.applied = undefined
      const done = had !== undefined && await this.reconcileFrom(had, want).then(() => true, (err: unknown) => {
        this.log.debug({ err: String(err) }, 'egress change without reading failed: reconciling in full')
        return false
      })
      if (!done) await this.reconcile(want)
      this.applied = want
    })
  }

  /** From what the last apply wrote to `want`, reading nothing: new uplinks, gone ones, the firewall's batch. */
  private async reconcileFrom (had: Desired, want: Desired): Promise<void> {
    const batch = restoreBatch(writtenState(had.spec), want.spec)
    const known = new Set(had.out.map(n => n.nid))
    const wanted = new Set(want.out.map(n => n.nid))
    const uplinks = async (): Promise<void> => {
      if (want.out.length > 0) await enableHostForwarding()
      for (const n of want.out) if (!known.has(n.nid)) await this.makeUplink(n, undefined, [])
      const gone = had.out.filter(n => !wanted.has(n.nid)).map(n => uplinkName(n.nid))
      if (gone.length > 0) await removeUplinks(gone)
    }
    await Promise.all([uplinks(), batch === '' ? undefined : this.ipt.restore(batch)])
  }

  /** One network's uplink brought to spec (made if `found` is undefined), and its sandbox forwarding. */
  private async makeUplink (
    n: EgressNetwork, found: Parameters<typeof ensureUplink>[1], routes: Parameters<typeof ensureUplink>[2]
  ): Promise<void> {
    const sandbox = sandboxName(this.o.nodeName, n.nid)
    // A sandbox seen for the first time, or whose uplink is made now, forwards once set (alongside
    // its uplink: both only need its namespace); one made anew under a known name, after its uplink.
    const first = !this.forwarding.has(sandbox) || found === undefined
    const [created] = await Promise.all([
      ensureUplink({ nid: n.nid, sandbox, subnet: n.subnet }, found, routes),
      first ? enableSandboxForwarding(sandbox) : undefined
    ])
    if (created && !first) await enableSandboxForwarding(sandbox)
    this.forwarding.add(sandbox)
    if (created) this.log.info({ network: n.name, sandbox }, 'egress uplink created')
  }

  private async reconcile ({ out, spec }: Desired): Promise<void> {
    // The firewall and the uplinks at once: rules name devices, which need not exist yet (and
    // the uplinks were made before the rules anyway). A network's first attach waits for the
    // longer of the two, not for both.
    const [, batch] = await Promise.all([this.reconcileUplinks(out), reconcileFirewall(this.ipt, spec)])
    if (batch !== '') this.log.debug({ lines: batch.split('\n').length }, 'egress firewall reconciled')
  }

  private async reconcileUplinks (out: readonly EgressNetwork[]): Promise<void> {
    const [have, routes] = await Promise.all([hostUplinks(), out.length > 0 ? hostRoutes() : []])
    if (out.length > 0) await enableHostForwarding()
    for (const n of out) await this.makeUplink(n, have.get(uplinkName(n.nid)), routes)
    const wanted = new Set(out.map(n => uplinkName(n.nid)))
    const strays = [...have.keys()].filter(d => !wanted.has(d))
    if (strays.length > 0) await removeUplinks(strays)
  }

  /** The periodic repair: the last view, read from the kernel and rewritten where it differs. */
  private async repair (): Promise<void> {
    await this.serial(async () => {
      if (this.stopped || this.last === undefined) return
      const want = desired(this.last)
      this.applied = undefined
      await this.reconcile(want)
      this.applied = want
    })
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.serial(async () => {
      this.stopped = true
      await reconcileFirewall(this.ipt, undefined)
      const left = [...(await hostUplinks()).keys()]
      if (left.length > 0) await removeUplinks(left)
      this.log.info({}, 'egress rules removed')
    })
  }
}

interface Desired { out: EgressNetwork[], spec: FirewallSpec | undefined, key: string }

/** What a view asks of the kernel: uplinks of the networks with egress, and the firewall. */
function desired (view: EgressView): Desired {
  const out = view.networks.filter(n => !n.internal)
  const spec: FirewallSpec | undefined = out.length === 0
    ? undefined
    : {
        overlaySubnets: view.overlaySubnets,
        networks: out.map(n => ({
          subnet: n.subnet, ports: n.endpoints.flatMap(e => e.publish.map(p => ({ ...p, ctrIp: e.ip })))
        }))
      }
  return { out, spec, key: JSON.stringify({ uplinks: out.map(n => [n.nid, n.subnet]), spec }) }
}

/** The checks of a publication that need no kernel: internal network, clashes. */
export function checkPublish (
  net: { name: string, internal: boolean }, wanted: readonly PortMapping[], published: readonly PortMapping[]
): void {
  if (wanted.length === 0) return
  if (net.internal) {
    throw new BadRequestError(`network ${net.name} is internal (no egress): ports cannot be published from it`)
  }
  checkClashes(wanted, published)
}
