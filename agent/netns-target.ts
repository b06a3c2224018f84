/**
 * Which namespace a container attach (`--netns`) may name. The control API is root-equivalent
 * (whoever reaches its socket can plumb interfaces, addresses and routes into namespaces, like the
 * docker group's socket), but it must not be talked into programming the host itself: an address
 * and a default route in the agent's own namespace (or the init namespace) reroute the host.
 *
 * Accepted: a name as `ip netns` takes it (resolved under /run/netns), or the path of a namespace
 * file under /run/netns (/var/run/netns) or of another process's namespace (/proc/PID/ns/net,
 * /proc/PID/task/TID/ns/net). Refused: anything else (relative or other paths, `..`, whitespace,
 * control characters, a leading '-' that a tool would read as an option, over-long values), and
 * at attach time a target that IS the agent's own network namespace or PID 1's, whatever name or
 * path leads to it (compared by device and inode, so a bind mount or /proc/self does not slip by).
 */
import { stat } from 'node:fs/promises'
import { BadRequestError } from './errors.js'

/** A namespace name: what `ip netns add` makes under /run/netns and the dataplane accepts. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:@+-]{0,254}$/
const RUN_RE = /^\/(?:var\/)?run\/netns\/([^/]+)$/
const PROC_RE = /^\/proc\/[1-9]\d{0,9}(?:\/task\/[1-9]\d{0,9})?\/ns\/net$/

/** Why `netns` is not an acceptable target, or undefined. Pure syntax (the API's body check). */
export function netnsSyntaxError (netns: string): string | undefined {
  const bad = (why: string): string => `invalid namespace ${JSON.stringify(netns.slice(0, 80))}: ${why}`
  if (netns.length === 0) return bad('empty')
  if (netns.length > 255) return bad('longer than 255 characters')
  if (netns.startsWith('/')) {
    const run = RUN_RE.exec(netns)
    if (run !== null) return nameError(run[1]!) === undefined ? undefined : bad(nameError(run[1]!)!)
    if (PROC_RE.test(netns)) return undefined
    return bad('a path must be /run/netns/NAME or /proc/PID/ns/net')
  }
  const why = nameError(netns)
  return why === undefined ? undefined : bad(why)
}

function nameError (name: string): string | undefined {
  if (name === '.' || name.includes('..')) return 'contains ".."'
  if (name.startsWith('-')) return 'begins with "-"'
  if (!NAME_RE.test(name)) return 'a name is letters, digits and "_.:@+-" (no spaces, slashes or control characters)'
  return undefined
}

/** The file a target names: a bare name lives under /run/netns. */
export function netnsFile (netns: string): string {
  return netns.startsWith('/') ? netns : `/run/netns/${netns}`
}

export interface NetnsGuardOptions {
  /** Namespaces never to attach to (default: the agent's own and PID 1's). */
  forbidden?: readonly string[]
}

const DEFAULT_FORBIDDEN = ['/proc/self/ns/net', '/proc/1/ns/net']

/**
 * Refuse (BadRequestError) a target with bad syntax, or one that is the same namespace as a
 * forbidden one. A target that does not exist (yet) passes: the dataplane reports it as missing.
 */
export async function checkNetnsTarget (netns: string, opts: NetnsGuardOptions = {}): Promise<void> {
  const syntax = netnsSyntaxError(netns)
  if (syntax !== undefined) throw new BadRequestError(syntax)
  let target
  try {
    target = await stat(netnsFile(netns))
  } catch {
    return
  }
  for (const f of opts.forbidden ?? DEFAULT_FORBIDDEN) {
    const s = await stat(f).catch(() => undefined)
    if (s !== undefined && s.dev === target.dev && s.ino === target.ino) {
      throw new BadRequestError(
        `namespace ${netns} is the host's own network namespace (${f}); refusing to attach a container to it`
      )
    }
  }
}
