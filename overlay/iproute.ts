/**
 * Running iproute2 (`ip`, `bridge`) for the Linux dataplane: one child process per call, commands
 * fed on stdin in `-batch -` mode, errors attributed to batch lines, `-json` output parsed.
 * A namespace is addressed by name (`tool -n NAME`) or by path (`nsenter --net=PATH tool`),
 * because `ip -n` only takes names and container sandboxes are often paths.
 */
import { spawn } from 'node:child_process'
import { DataplaneError } from './dataplane.js'
import { BatchSession } from './iproute-session.js'

export type Tool = 'ip' | 'bridge'

export interface RunResult { code: number, stdout: string, stderr: string }

export interface IprouteOptions {
  /** Program paths (defaults: found on PATH). */
  ip?: string
  bridge?: string
  nsenter?: string
  /** Kill a command that runs longer than this (a wedged netlink socket must not hang the agent). */
  timeoutMs?: number
  /**
   * `hot` batches in a named namespace go to a long-lived process per namespace and tool
   * (iproute-session.ts) instead of a new process each. Off by default; stand-in tools that read
   * their whole stdin before answering need it off.
   */
  persistent?: boolean
  /** A persistent process idle this long ends (default 60 s). */
  sessionIdleMs?: number
}

/** Messages the kernel/iproute2 give when the object to delete is already gone. */
const ABSENT = [/Cannot find device/, /No such file or directory/, /Address not found/, /No such device/,
  /No such process/, /Cannot open network namespace/]

export function isAbsentError (msg: string): boolean {
  return ABSENT.some(re => re.test(msg))
}

/** A failed line of a batch: 1-based line number and the messages printed for it. */
export interface BatchFailure { line: number, message: string }

export interface BatchResult extends RunResult {
  failures: BatchFailure[]
  /** The tool exited before the end of the batch (ip neigh errors exit the process). */
  aborted: boolean
}

export class Iproute {
  private readonly bin: Record<Tool | 'nsenter', string>
  private readonly timeoutMs: number
  private readonly persistent: boolean
  private readonly idleMs: number
  private readonly sessions = new Map<string, BatchSession>()

  constructor (opts: IprouteOptions = {}) {
    this.bin = { ip: opts.ip ?? 'ip', bridge: opts.bridge ?? 'bridge', nsenter: opts.nsenter ?? 'nsenter' }
    this.timeoutMs = opts.timeoutMs ?? 30_000
    this.persistent = opts.persistent ?? false
    this.idleMs = opts.sessionIdleMs ?? 60_000
  }

  /** argv of `tool args...` run inside `netns` (undefined = the caller's namespace). */
  argv (tool: Tool, netns: string | undefined, args: readonly string[]): string[] {
    if (netns === undefined) return [this.bin[tool], ...args]
    if (netns.includes('/')) return [this.bin.nsenter, `--net=${netns}`, this.bin[tool], ...args]
    return [this.bin[tool], '-n', netns, ...args]
  }

  /** Run a command; never rejects for a non-zero exit (callers decide), only for spawn failures. */
  run (argv: readonly string[], input?: string): Promise<RunResult> {
    const [cmd, ...args] = argv
    if (cmd === undefined) return Promise.reject(new DataplaneError('invalid', 'empty command'))
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
      const out: Buffer[] = []
      const err: Buffer[] = []
      const timer = setTimeout(() => { child.kill('SIGKILL') }, this.timeoutMs)
      child.stdout.on('data', (b: Buffer) => out.push(b))
      child.stderr.on('data', (b: Buffer) => err.push(b))
      child.on('error', (e) => {
        clearTimeout(timer)
        reject(new DataplaneError('command', `cannot run ${cmd}: ${e.message}`))
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        const stderr = Buffer.concat(err).toString('utf8')
        resolve({
          code: code ?? (signal !== null ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: signal === 'SIGKILL' ? `${stderr}killed after ${this.timeoutMs} ms` : stderr
        })
      })
      // A tool that exits early (bad namespace) closes stdin under us: not an error of ours.
      child.stdin.on('error', () => {})
      child.stdin.end(input ?? '')
    })
  }

  /** Run `tool args` in `netns` and fail with DataplaneError on a non-zero exit. */
  async check (tool: Tool, netns: string | undefined, args: readonly string[]): Promise<string> {
    const r = await this.run(this.argv(tool, netns, args))
    if (r.code !== 0) throw commandError(`${tool} ${args.join(' ')}`, netns, r.stderr)
    return r.stdout
  }

  /** Run `tool -json args` in `netns` and parse the output (empty output = empty list). */
  async json<T> (tool: Tool, netns: string | undefined, args: readonly string[]): Promise<T[]> {
    const out = await this.check(tool, netns, ['-json', ...args])
    const text = out.trim()
    if (text === '') return []
    try {
      const parsed: unknown = JSON.parse(text)
      return Array.isArray(parsed) ? parsed as T[] : []
    } catch (e) {
      throw new DataplaneError('command', `unparsable ${tool} -json output: ${(e as Error).message}`)
    }
  }

  /**
   * Run a batch (`-force` so one failed line does not stop the rest). The caller decides which
   * failures matter; every line is one netlink request, all in this one process. `stopAtFailure`:
   * no -force, for lines that must not run once an earlier one failed. `hot`: a batch of the hot
   * path, run by the namespace's long-lived process when `persistent` (a line that finds no device
   * of a name it knew runs again, with its batch, on a new process: iproute2's index cache).
   */
  async batch (
    tool: Tool, netns: string | undefined, lines: readonly string[],
    o: { stopAtFailure?: boolean, hot?: boolean } = {}
  ): Promise<BatchResult> {
    if (lines.length === 0) return { code: 0, stdout: '', stderr: '', failures: [], aborted: false }
    if (o.hot === true && this.persistent && o.stopAtFailure !== true && netns !== undefined && !netns.includes('/')) {
      return await this.session(tool, netns).run(lines)
    }
    const flags = o.stopAtFailure === true ? ['-batch', '-'] : ['-force', '-batch', '-']
    const r = await this.run(this.argv(tool, netns, flags), lines.join('\n') + '\n')
    const failures = parseBatchErrors(r.stderr)
    return { ...r, failures, aborted: r.code !== 0 && failures.length === 0 }
  }

  /** The long-lived process' pid for `tool` in `netns`, if one runs (tests, diagnostics). */
  sessionPid (tool: Tool, netns: string): number | undefined {
    return this.sessions.get(`${tool} ${netns}`)?.pid
  }

  private session (tool: Tool, netns: string): BatchSession {
    const key = `${tool} ${netns}`
    let s = this.sessions.get(key)
    if (s === undefined) {
      s = new BatchSession({
        argv: this.argv(tool, netns, ['-force', '-batch', '-']), tool, netns, timeoutMs: this.timeoutMs,
        idleMs: this.idleMs
      })
      this.sessions.set(key, s)
    }
    return s
  }

  /** End the persistent processes in `netns` (before it is deleted: a process in it keeps it alive). */
  endSessions (netns: string): void {
    for (const tool of ['ip', 'bridge'] as const) {
      this.sessions.get(`${tool} ${netns}`)?.close()
      this.sessions.delete(`${tool} ${netns}`)
    }
  }

  /** End the persistent processes in `netns` if the name now holds another namespace. */
  dropStaleSessions (netns: string): void {
    for (const t of ['ip', 'bridge'] as const) this.sessions.get(`${t} ${netns}`)?.dropIfStale()
  }

  /** End every persistent process. */
  endAllSessions (): void {
    for (const s of [...this.sessions.values()]) s.close()
    this.sessions.clear()
  }
}

/**
 * iproute2 prints the error message(s) of a failed batch line, then "Command failed -:N".
 * Group the messages with the line they belong to.
 */
export function parseBatchErrors (stderr: string): BatchFailure[] {
  const out: BatchFailure[] = []
  let pending: string[] = []
  for (const raw of stderr.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const m = /^Command failed .*:(\d+)$/.exec(line)
    if (m !== null) {
      out.push({ line: Number(m[1]), message: pending.join('; ') })
      pending = []
    } else {
      pending.push(line)
    }
  }
  return out
}

/**
 * setns(2) refuses a file that is no network namespace with EINVAL: an empty /run/netns file whose
 * bind mount is gone (its agent ran in a private mount namespace and was killed), a bind mount of
 * another kind of namespace, a directory.
 */
const NOT_NETNS = [/setting the network namespace .* failed: Invalid argument/,
  /reassociate to namespace .* failed: Invalid argument/]

export function commandError (what: string, netns: string | undefined, stderr: string): DataplaneError {
  const msg = stderr.trim()
  if (NOT_NETNS.some(re => re.test(msg))) {
    return new DataplaneError('not-netns',
      `${netns ?? '(host)'} is not a network namespace (a stale or foreign file)`, msg)
  }
  if (/Cannot open network namespace/.test(msg) || /No such file or directory.*netns|nsenter: cannot open/.test(msg)) {
    return new DataplaneError('no-netns', `network namespace ${netns ?? '(host)'} does not exist`, msg)
  }
  return new DataplaneError('command', `${what}${netns === undefined ? '' : ` (netns ${netns})`} failed: ${msg}`, msg)
}
