/**
 * CHECK's look into the container: the interface, its addresses and the routes, as the kernel
 * has them in CNI_NETNS. Read with iproute2's JSON output (two processes, in parallel: CHECK is
 * not on the container start path), entered with `nsenter --net=PATH` as the overlay's Dataplane
 * does for a path.
 */
import { execFile } from 'node:child_process'

export interface NetnsView {
  /** Undefined when the interface does not exist. */
  link?: { name: string, mac: string, up: boolean, mtu: number }
  /** CIDR form. */
  addresses: string[]
  routes: Array<{ dst: string, gw?: string, dev?: string }>
}

/** What CHECK reads; a port so protocol tests can run without namespaces. */
export interface NetnsInspector {
  inspect (netns: string, ifName: string): Promise<NetnsView>
}

interface AddrJson {
  ifname: string
  address?: string
  mtu: number
  flags?: string[]
  operstate?: string
  addr_info?: Array<{ family: string, local: string, prefixlen: number }>
}

interface RouteJson { dst: string, gateway?: string, dev?: string }

function run (argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`))
      else resolve(stdout)
    })
  })
}

function inNetns (netns: string, args: string[]): string[] {
  return netns.includes('/') ? ['nsenter', `--net=${netns}`, 'ip', ...args] : ['ip', '-n', netns, ...args]
}

export class IprouteNetnsInspector implements NetnsInspector {
  async inspect (netns: string, ifName: string): Promise<NetnsView> {
    const [addrText, routeText] = await Promise.all([
      run(inNetns(netns, ['-json', 'addr', 'show'])),
      run(inNetns(netns, ['-json', '-4', 'route', 'show']))
    ])
    const links = JSON.parse(addrText === '' ? '[]' : addrText) as AddrJson[]
    const routes = (JSON.parse(routeText === '' ? '[]' : routeText) as RouteJson[])
      .map(r => ({
        dst: r.dst === 'default' ? '0.0.0.0/0' : r.dst,
        ...(r.gateway === undefined ? {} : { gw: r.gateway }),
        ...(r.dev === undefined ? {} : { dev: r.dev })
      }))
    const l = links.find(x => x.ifname === ifName)
    if (l === undefined) return { addresses: [], routes }
    return {
      link: { name: l.ifname, mac: l.address ?? '', up: (l.flags ?? []).includes('UP'), mtu: l.mtu },
      addresses: (l.addr_info ?? []).filter(a => a.family === 'inet').map(a => `${a.local}/${a.prefixlen}`),
      routes
    }
  }
}
