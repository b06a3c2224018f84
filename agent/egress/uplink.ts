/**
 * A network's sandbox uplink: one veth pair per network per host, `ovu<nid12>` in the host
 * namespace and `uplink0` in the sandbox, numbered with a fixed link-local pair (169.254.1.1 on
 * the host side, 169.254.1.2 on the sandbox side, the same on every uplink: each is a link of
 * its own, and routes name the device). The sandbox routes everything off its subnet up to the
 * host (`default via 169.254.1.1`); the host routes the network's subnet down to the sandbox.
 * Written through `ip -batch -` (two processes per network, only when something is missing).
 */
import { writeFile } from 'node:fs/promises'
import { SANDBOX_UPLINK } from '../../overlay/index.js'
import { UPLINK_PREFIX } from './firewall.js'
import { cidr4, sandbox as sandboxName, uplinkDev } from './checks.js'
import { run } from './run.js'

export { SANDBOX_UPLINK }
export const HOST_SIDE_IP = '169.254.1.1'
export const SANDBOX_SIDE_IP = '169.254.1.2'

export interface UplinkSpec {
  nid: string
  /** The sandbox namespace (overlay's `sandboxName`). */
  sandbox: string
  subnet: string
}

export function uplinkName (nid: string): string {
  return `${UPLINK_PREFIX}${nid.slice(0, 12)}`
}

interface LinkJson { ifname: string, operstate?: string, addr_info?: Array<{ local?: string }> }
interface RouteJson { dst?: string, gateway?: string, dev?: string }

const ipArgs = (ns: string | undefined, args: readonly string[]): string[] =>
  (ns === undefined ? [...args] : ['-n', ns, ...args])
const batch = async (ns: string | undefined, lines: readonly string[]): Promise<void> => {
  if (lines.length > 0) await run('ip', ipArgs(ns, ['-batch', '-']), lines.join('\n') + '\n')
}
const json = async <T>(ns: string | undefined, args: readonly string[]): Promise<T[]> => {
  const out = (await run('ip', ipArgs(ns, ['-json', ...args]))).trim()
  return out === '' ? [] : JSON.parse(out) as T[]
}

/** The host side's uplinks that exist now, by device name. */
export async function hostUplinks (): Promise<Map<string, LinkJson>> {
  const links = await json<LinkJson>(undefined, ['addr', 'show'])
  return new Map(links
    .filter(l => l.ifname.startsWith(UPLINK_PREFIX) && /^ovu[0-9a-f]{12}$/.test(l.ifname))
    .map(l => [l.ifname, l]))
}

/**
 * Bring one network's uplink to the spec: create the pair if the host side is missing (after
 * removing a stray sandbox side), then addresses, routes and forwarding. Returns whether it
 * created the pair.
 */
export async function ensureUplink (u: UplinkSpec, found: LinkJson | undefined, routes: RouteJson[]): Promise<boolean> {
  const dev = uplinkDev(uplinkName(u.nid))
  sandboxName(u.sandbox)
  cidr4('network subnet', u.subnet)
  let existing = found
  // A host side whose sandbox side is gone: the sandbox was removed (a network's last endpoint
  // left) and made again; the kernel tears a deleted namespace down asynchronously, so the old
  // host side can outlive it for a moment. Or someone deleted the route. Rebuild the pair.
  if (existing !== undefined && !(await sandboxHasDefault(u.sandbox).catch(() => false))) {
    await batch(undefined, [`link del ${dev}`]).catch(() => {})
    existing = undefined
  }
  const created = existing === undefined
  const host: string[] = []
  if (created || existing?.addr_info?.some(a => a.local === HOST_SIDE_IP) !== true) {
    host.push(`addr replace ${HOST_SIDE_IP}/32 dev ${dev}`)
  }
  if (created || existing?.operstate === 'DOWN') host.push(`link set ${dev} up`)
  if (created || !routes.some(r => r.dst === u.subnet && r.dev === dev && r.gateway === SANDBOX_SIDE_IP)) {
    host.push(`route replace ${u.subnet} via ${SANDBOX_SIDE_IP} dev ${dev} onlink`)
  }
  if (created) {
    // The pair and the host side's set-up in one process. A sandbox side without its host side
    // (deleted by hand) blocks the name ("File exists"): removed then, and once more.
    const add = `link add ${dev} type veth peer name ${SANDBOX_UPLINK} netns ${u.sandbox}`
    try {
      await batch(undefined, [add, ...host])
    } catch (err) {
      if (!/File exists/.test(String(err))) throw err
      await batch(u.sandbox, [`link del ${SANDBOX_UPLINK}`]).catch(() => {})
      await batch(undefined, [add, ...host])
    }
    await batch(u.sandbox, [
      `addr replace ${SANDBOX_SIDE_IP}/32 dev ${SANDBOX_UPLINK}`,
      `link set ${SANDBOX_UPLINK} up`,
      `route replace default via ${HOST_SIDE_IP} dev ${SANDBOX_UPLINK} onlink`
    ])
  } else {
    await batch(undefined, host)
  }
  return created
}

/** Routes of the host namespace (one read per reconciliation). */
export async function hostRoutes (): Promise<RouteJson[]> {
  return await json<RouteJson>(undefined, ['route', 'show'])
}

/** The sandbox forwards between its bridge and its uplink (a new namespace does not). */
export async function enableSandboxForwarding (sandbox: string): Promise<void> {
  sandboxName(sandbox)
  // nsenter --net only: /proc/sys/net is the namespace of the process that opens it. sh, not
  // sysctl: one package less on the host.
  await run('nsenter', [`--net=/run/netns/${sandbox}`, '--', 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward'])
}

/** The host forwards (as Docker's daemon sets it); not undone on stop, as Docker does not. */
export async function enableHostForwarding (): Promise<void> {
  await writeFile('/proc/sys/net/ipv4/ip_forward', '1\n')
}

/** Remove host-side uplinks (their sandbox sides go with them). */
export async function removeUplinks (devs: readonly string[]): Promise<void> {
  devs.forEach(uplinkDev)
  await batch(undefined, devs.map(d => `link del ${d}`))
}

/** Whether the sandbox's uplink has its default route (read for adoption checks). */
export async function sandboxHasDefault (sandbox: string): Promise<boolean> {
  sandboxName(sandbox)
  const routes = await json<RouteJson>(sandbox, ['route', 'show', 'default'])
  return routes.some(r => r.gateway === HOST_SIDE_IP && r.dev === SANDBOX_UPLINK)
}
