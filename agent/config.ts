/**
 * `ovnet agent` configuration: command-line flags over an optional YAML file over defaults,
 * validated in one place before anything starts. A bad value becomes one `ConfigError` line naming
 * the setting as the user wrote it (`vxlan-port`, `networkdb.probeTimeoutMs`); the CLI prints it
 * and exits 2.
 *
 * The file uses the flag names as keys (`cluster-key: /etc/ovnet/cluster.key`; camelCase works
 * too), and a `networkdb:` section with the NetworkDBConfig timers (networkdb/config.ts).
 */
import { readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import { z } from 'zod'
import {
  defaultConfig, resolveConfig, ClusterKeyError, loadClusterKey, type NetworkDBConfig
} from '../networkdb/index.js'
import { DEFAULT_PLUGIN_SOCKET } from './docker-plugin/protocol.js'
import { MAX_SOCKET_PATH_BYTES } from './unix-socket.js'

export interface HostPort { host: string, port: number }

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const
export type LogLevel = typeof LOG_LEVELS[number]

export interface AgentConfig {
  /** Node name in the cluster (members, Peers). Default: the host name. */
  name: string
  /** Persistent state (NetworkDB store, IPAM, overlay leftovers); created 0700. */
  dataDir: string
  /** Control API socket, mode 0660. */
  socket: string
  /** Group id given to the control socket (`socket-group`: a name or a number); undefined: root's. */
  socketGroup: number | undefined
  /** Cluster transport listen address. */
  bind: HostPort
  /** Underlay address announced to peers (the VTEP); undefined: the controller derives it. */
  advertise: string | undefined
  /** Seeds to join through; empty: start a new cluster (or wait to be joined). */
  join: HostPort[]
  /** Path of the cluster key file (checked to be a valid key at load). */
  clusterKey: string
  /** VXLAN UDP port, the same on every host. */
  vxlanPort: number
  /** VXLAN UDP port of encrypted networks (steered into WireGuard), the same on every host; default vxlanPort + 1. */
  encryptedVxlanPort: number
  /** WireGuard device name (unique per machine for wireguard-go: its socket path). */
  wgInterface: string
  /** WireGuard listen port, the same on every host. */
  wgPort: number
  /** Prometheus endpoint; undefined: no metrics server. */
  metrics: HostPort | undefined
  logLevel: LogLevel
  /** Docker remote-plugin socket path; undefined: no plugin. */
  dockerPlugin: string | undefined
  /** The resolv.conf whose nameservers get the names the embedded DNS forwards (docs/dns.md). */
  dnsResolvConf: string
  /** NetworkDB timers: defaults with the file's `networkdb:` overrides, checked by resolveConfig. */
  networkdb: NetworkDBConfig
  /** The YAML file the settings came from, if any. */
  configFile: string | undefined
}

/** Raw flag values as commander hands them over (all strings; `join` may repeat). */
export interface AgentFlags {
  config?: string
  name?: string
  dataDir?: string
  socket?: string
  socketGroup?: string
  bind?: string
  advertise?: string
  join?: string[]
  clusterKey?: string
  vxlanPort?: string
  encryptedVxlanPort?: string
  wgInterface?: string
  wgPort?: string
  metrics?: string
  logLevel?: string
  /** `true`: the flag without a path (the default socket). */
  dockerPlugin?: string | true
  dnsResolvConf?: string
}

export const AGENT_DEFAULTS = Object.freeze({
  dataDir: '/var/lib/ovnet',
  socket: '/run/ovnet/ovnet.sock',
  bind: '0.0.0.0:7946',
  vxlanPort: 4789,
  wgInterface: 'ovwg0',
  wgPort: 51820,
  logLevel: 'info',
  dnsResolvConf: '/etc/resolv.conf'
})

/** IANA registered ports: below is privileged/well-known, above is the ephemeral range. */
export const VXLAN_PORT_RANGE = [1024, 49151] as const

export class ConfigError extends Error {
  constructor (readonly field: string, detail: string) {
    super(`invalid configuration: ${detail}`)
    this.name = 'ConfigError'
  }
}

// ---- field parsers -------------------------------------------------------------------------------

const HOST_NAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/

/** The metrics address when only a port is given (`9469` or `:9469`): never more than this host. */
export const METRICS_DEFAULT_HOST = '127.0.0.1'

/** `9469` or `:9469` -> `127.0.0.1:9469`; anything else unchanged. */
function metricsDefaultHost (v: string | number): string | number {
  const t = String(v).trim()
  return /^:?\d+$/.test(t) ? `${METRICS_DEFAULT_HOST}:${t.replace(/^:/, '')}` : v
}

/** "1.2.3.4:7946", "[::1]:7946", or with `allowHostname` "seed.example:7946". */
export function parseHostPort (s: string, o: { allowHostname: boolean, allowPortZero: boolean }): HostPort | string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]]+):(\d+)$/.exec(s)
  if (m === null) return `expected ADDR:PORT, got "${s}"`
  const host = m[1]!
  const port = Number(m[2])
  if (isIP(host) === 0 && !(o.allowHostname && HOST_NAME.test(host))) {
    return `"${host}" is not an IP address${o.allowHostname ? ' or host name' : ''}`
  }
  if (!Number.isInteger(port) || port > 65535 || (port === 0 && !o.allowPortZero)) return `port ${m[2]} is out of range`
  return { host, port }
}

export function formatHostPort (hp: HostPort): string {
  return isIP(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`
}

const text = (what: string) => z.string({ error: `must be ${what}` }).min(1, { error: 'must not be empty' })

const hostPort = (o: { allowHostname: boolean, allowPortZero: boolean }) => text('ADDR:PORT').transform((s, ctx) => {
  const r = parseHostPort(s, o)
  if (typeof r === 'string') { ctx.addIssue({ code: 'custom', message: r }); return z.NEVER }
  return r
})

/** Flags are strings, YAML gives numbers: accept both, and only whole decimal numbers. */
const integer = (lo: number, hi: number) => z.union([z.number(), z.string()], {
  error: `must be an integer in ${lo}-${hi}`
})
  .transform((v, ctx) => {
    const n = typeof v === 'number' ? v : (/^\d+$/.test(v.trim()) ? Number(v) : NaN)
    if (!Number.isInteger(n) || n < lo || n > hi) {
      ctx.addIssue({ code: 'custom', message: `must be an integer in ${lo}-${hi}, got ${JSON.stringify(v)}` })
      return z.NEVER
    }
    return n
  })

const absPath = (cwd: string, maxBytes?: number) => text('a path').transform((s, ctx) => {
  const p = resolve(cwd, s)
  if (maxBytes !== undefined && Buffer.byteLength(p) > maxBytes) {
    ctx.addIssue({ code: 'custom', message: `path ${p} is longer than ${maxBytes} bytes (the unix socket limit)` })
    return z.NEVER
  }
  return p
})

/** A comma-separated string, a list, or a list of comma-separated strings (repeated flags). */
const joinList = z.union([z.string(), z.array(z.string())], { error: 'must be a list of ADDR:PORT' })
  .transform(v => (Array.isArray(v) ? v : [v]).flatMap(s => s.split(',')).map(s => s.trim()).filter(s => s !== ''))
  .pipe(z.array(hostPort({ allowHostname: true, allowPortZero: false })))

function schema (cwd: string) {
  return z.strictObject({
    name: text('a node name').regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
      error: 'must be 1-64 characters of letters, digits, ".", "_" or "-"'
    }),
    dataDir: absPath(cwd),
    socket: absPath(cwd, MAX_SOCKET_PATH_BYTES),
    bind: hostPort({ allowHostname: false, allowPortZero: true }),
    advertise: text('an IPv4 address').refine(s => isIP(s) === 4, {
      error: iss => `"${String(iss.input)}" is not an IPv4 address`
    }).optional(),
    join: joinList.default([]),
    clusterKey: absPath(cwd).optional(),
    vxlanPort: integer(VXLAN_PORT_RANGE[0], VXLAN_PORT_RANGE[1]),
    encryptedVxlanPort: integer(VXLAN_PORT_RANGE[0], VXLAN_PORT_RANGE[1]).optional(),
    wgInterface: text('an interface name').regex(/^[A-Za-z0-9_.-]{1,15}$/, {
      error: 'must be 1-15 characters of letters, digits, ".", "_" or "-"'
    }),
    wgPort: integer(1, 65535),
    // a bare port (or ":PORT") binds to localhost only; any other address must be written out
    metrics: z.union([z.number(), z.string()]).transform(metricsDefaultHost)
      .pipe(hostPort({ allowHostname: true, allowPortZero: true })).optional(),
    socketGroup: z.union([z.number(), z.string()], { error: 'must be a group name or id' }).optional(),
    logLevel: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }),
    // `--docker-plugin` alone (or `docker-plugin: true` in the file): Docker's default plugin path.
    dockerPlugin: z.union([
      z.literal(true).transform(() => DEFAULT_PLUGIN_SOCKET), absPath(cwd, MAX_SOCKET_PATH_BYTES)
    ], { error: 'must be a socket path or true' }).optional(),
    dnsResolvConf: absPath(cwd),
    networkdb: z.record(z.string(), z.unknown(), { error: 'must be a mapping of NetworkDB settings' }).optional()
  })
}

const NETWORKDB_KEYS = Object.keys(defaultConfig) as Array<keyof NetworkDBConfig>

function parseNetworkDB (section: Record<string, unknown> | undefined): NetworkDBConfig {
  const overrides: Partial<NetworkDBConfig> = {}
  for (const [rawKey, v] of Object.entries(section ?? {})) {
    const key = camel(rawKey) as keyof NetworkDBConfig
    if (!NETWORKDB_KEYS.includes(key)) {
      throw new ConfigError(
        `networkdb.${rawKey}`, `networkdb.${rawKey}: unknown setting (known: ${NETWORKDB_KEYS.join(', ')})`
      )
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(
        `networkdb.${rawKey}`, `networkdb.${rawKey}: must be a non-negative number, got ${JSON.stringify(v)}`
      )
    }
    overrides[key] = v
  }
  try {
    return resolveConfig(overrides)
  } catch (err) {
    const msg = (err as Error).message.replace(/^networkdb config /, '')
    const field = NETWORKDB_KEYS.find(k => msg.startsWith(k)) ?? ''
    throw new ConfigError(`networkdb.${field}`, `networkdb.${msg}`)
  }
}

/** A group id from a number or a name in /etc/group (ConfigError when there is no such group). */
export async function resolveGroup (g: number | string, groupFile = '/etc/group'): Promise<number> {
  const text = String(g).trim()
  if (/^\d+$/.test(text) && Number(text) <= 0x7fffffff) return Number(text)
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/.test(text)) {
    throw new ConfigError('socket-group', `socket-group: ${JSON.stringify(text)} is not a group name or id`)
  }
  let groups: string
  try {
    groups = await readFile(groupFile, 'utf8')
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new ConfigError('socket-group', `socket-group: cannot read ${groupFile}: ${why}`)
  }
  const line = groups.split('\n').map(l => l.split(':')).find(f => f[0] === text)
  const gid = Number(line?.[2])
  if (line === undefined || !Number.isInteger(gid)) {
    throw new ConfigError('socket-group', `socket-group: no group ${text} in ${groupFile}`)
  }
  return gid
}

// ---- loading -----------------------------------------------------------------------------------

function camel (k: string): string { return k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) }
function kebab (k: string): string { return k.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`) }

async function readConfigFile (path: string): Promise<Record<string, unknown>> {
  let raw: string
  try {
    raw = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(
      'config', `config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`
    )
  }
  let doc: unknown
  try {
    doc = parseYaml(raw)
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos !== undefined ? ` line ${err.linePos[0].line}` : ''
    throw new ConfigError('config', `config: ${path}${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`)
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError('config', `config: ${path}: must be a mapping of settings`)
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc)) {
    const key = camel(k)
    if (key in out) throw new ConfigError(kebab(key), `${kebab(key)}: set twice in ${path}`)
    out[key] = v
  }
  return out
}

function describe (issue: z.core.$ZodIssue): { field: string, text: string } {
  const [head, ...rest] = issue.path.map(String)
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map(kebab)
    return { field: keys[0] ?? '', text: `${keys.join(', ')}: unknown setting` }
  }
  const field = [head === undefined ? '' : kebab(head), ...rest].filter(s => s !== '').join('.')
  return { field, text: `${field}: ${issue.message}` }
}

export interface LoadOptions {
  /** Resolve relative paths against this (default: process.cwd()). */
  cwd?: string
  /** Default node name (default: os.hostname()). */
  hostname?: string
}

/**
 * Build the agent's configuration from flags and the optional `--config` file, or throw one
 * `ConfigError` naming the offending setting(s). Checks that the cluster key file is a valid key.
 */
export async function loadAgentConfig (flags: AgentFlags, opts: LoadOptions = {}): Promise<AgentConfig> {
  const cwd = opts.cwd ?? process.cwd()
  const configFile = flags.config === undefined ? undefined : resolve(cwd, flags.config)
  const fromFile = configFile === undefined ? {} : await readConfigFile(configFile)
  const fromFlags = Object.fromEntries(Object.entries(flags).filter(([k, v]) => k !== 'config' && v !== undefined))
  const merged = {
    name: opts.hostname ?? hostname(),
    ...AGENT_DEFAULTS,
    ...fromFile,
    ...fromFlags
  }
  const parsed = schema(cwd).safeParse(merged)
  if (!parsed.success) {
    const issues = parsed.error.issues.map(describe)
    throw new ConfigError(issues[0]?.field ?? '', issues.map(i => i.text).join('; '))
  }
  const c = parsed.data
  if (c.clusterKey === undefined) {
    throw new ConfigError(
      'cluster-key', 'cluster-key: required (create a key with `ovnet keygen FILE`, then pass --cluster-key FILE)'
    )
  }
  try {
    await loadClusterKey(c.clusterKey)
  } catch (err) {
    const detail = err instanceof ClusterKeyError && err.reason === 'missing'
      ? `${c.clusterKey} not found (create one with \`ovnet keygen ${c.clusterKey}\`)`
      : (err instanceof ClusterKeyError
          ? err.message
          : `cannot read ${c.clusterKey}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    throw new ConfigError('cluster-key', `cluster-key: ${detail}`)
  }
  const socketGroup = c.socketGroup === undefined ? undefined : await resolveGroup(c.socketGroup)
  if (c.metrics !== undefined && c.metrics.port === c.bind.port && c.metrics.port !== 0 &&
      (c.metrics.host === c.bind.host || c.bind.host === '0.0.0.0')) {
    throw new ConfigError(
      'metrics', `metrics: ${formatHostPort(c.metrics)} collides with bind ${formatHostPort(c.bind)}`
    )
  }
  // Default: the port above the plain one (below it at the top of the range).
  const encryptedVxlanPort = c.encryptedVxlanPort ??
    (c.vxlanPort < VXLAN_PORT_RANGE[1] ? c.vxlanPort + 1 : c.vxlanPort - 1)
  if (encryptedVxlanPort === c.vxlanPort) {
    throw new ConfigError('encrypted-vxlan-port',
      `encrypted-vxlan-port: must differ from vxlan-port ${c.vxlanPort} ` +
      '(the port is what steers traffic into WireGuard)')
  }
  return {
    name: c.name,
    dataDir: c.dataDir,
    socket: c.socket,
    socketGroup,
    bind: c.bind,
    advertise: c.advertise,
    join: c.join,
    clusterKey: c.clusterKey,
    vxlanPort: c.vxlanPort,
    encryptedVxlanPort,
    wgInterface: c.wgInterface,
    wgPort: c.wgPort,
    metrics: c.metrics,
    logLevel: c.logLevel,
    dockerPlugin: c.dockerPlugin,
    dnsResolvConf: c.dnsResolvConf,
    networkdb: parseNetworkDB(c.networkdb),
    configFile
  }
}
