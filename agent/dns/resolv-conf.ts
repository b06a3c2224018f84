/**
 * resolv.conf both ways: the host's (where other names are forwarded: its `nameserver` lines),
 * and a container's (`attach --dns`: pointed at the resolver of its networks' sandboxes).
 */
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { isIP } from 'node:net'

export interface Upstream { host: string, port: number }

/** `nameserver` lines of a resolv.conf text, in order (invalid lines skipped, at most 3 as glibc). */
export function parseNameservers (text: string): Upstream[] {
  const out: Upstream[] = []
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim()
    const m = /^nameserver\s+(\S+)$/.exec(line)
    if (m === null) continue
    const host = m[1]!.replace(/%.*$/, '')
    if (isIP(host) !== 0) out.push({ host, port: 53 })
  }
  return out.slice(0, 3)
}

/** The host's resolvers, re-read when the file changes (checked at most once per `checkMs`). */
export class HostResolvers {
  private servers: Upstream[] = []
  private mtimeMs = -1
  private checkedAt = -Infinity
  private pending: Promise<void> | undefined

  constructor (
    private readonly path: string,
    private readonly checkMs = 1000,
    private readonly now: () => number = () => performance.now()
  ) {}

  async get (): Promise<Upstream[]> {
    if (this.now() - this.checkedAt >= this.checkMs) {
      this.pending ??= this.refresh().finally(() => { this.pending = undefined })
      await this.pending
    }
    return this.servers
  }

  private async refresh (): Promise<void> {
    this.checkedAt = this.now()
    const st = await stat(this.path).catch(() => undefined)
    if (st === undefined) { this.servers = []; this.mtimeMs = -1; return }
    if (st.mtimeMs === this.mtimeMs) return
    this.servers = parseNameservers(await readFile(this.path, 'utf8').catch(() => ''))
    this.mtimeMs = st.mtimeMs
  }
}

export const RESOLV_HEADER = '# written by ovnet (attach --dns): the resolver of the container\'s ovnet networks'

/**
 * Where a container's resolv.conf lives for an attach target: for a namespace name (or
 * /run/netns/NAME), the file `ip netns exec NAME` binds over /etc/resolv.conf
 * (/etc/netns/NAME/resolv.conf), in the host's own /etc. Other targets (/proc/PID/ns/net):
 * undefined. Writing into a running container's root through /proc/PID/root would follow
 * symlinks the container controls (an absolute one resolves against the agent's root: the
 * host's files), so ovnet does not; such runtimes write their containers' resolv.conf themselves.
 */
export function resolvConfPath (netns: string, etc = '/etc'): string | undefined {
  const run = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(netns)
  const name = run === null ? (netns.startsWith('/') ? undefined : netns) : run[1]
  return name === undefined ? undefined : `${etc}/netns/${name}/resolv.conf`
}

export function resolvConfText (servers: readonly string[]): string {
  return [RESOLV_HEADER, ...servers.map(s => `nameserver ${s}`), 'options ndots:0', ''].join('\n')
}

/** Write (or, with no servers, remove if ours) a container's resolv.conf. */
export async function writeResolvConf (path: string, servers: readonly string[]): Promise<void> {
  if (servers.length === 0) {
    const text = await readFile(path, 'utf8').catch(() => undefined)
    if (text?.startsWith(RESOLV_HEADER) !== true) return
    await rm(path, { force: true })
    // /etc/netns/NAME was made for the file: gone with it when nothing else is in there.
    await rmdir(dirname(path)).catch(() => {})
    return
  }
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, resolvConfText(servers))
}
