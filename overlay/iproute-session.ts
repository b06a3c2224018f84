/**
 * A long-lived iproute2 process per sandbox and tool (`ip -n NAME -force -batch -`, the same for
 * `bridge`) for the hot path: every remote endpoint's FDB and neighbour entries, and the sandbox
 * side of every local endpoint, are lines written to its stdin instead of a new process each time
 * (a fork of the agent and an exec of the tool per flush, on every host, for every endpoint of
 * the cluster: the largest CPU cost of propagation at 20 hosts). iproute2 reads batch lines as
 * they come and does one netlink request per line.
 *
 * Knowing when a batch is done, and which of its lines failed: after the batch, one more line
 * that always fails without touching anything (`link show dev ovnet/sync`: no device name holds
 * a '/'); iproute2 writes "Command failed -:N" on stderr, unbuffered, for every failed line,
 * numbered from the process' start. The failures of lines inside the batch are its own; the
 * marker's closes it. A tool that exits on an error (`ip neigh` does, even with -force) ends the
 * batch as aborted; the next batch starts a new process.
 *
 * A session is bound to the namespace it entered: when /run/netns/NAME is made anew (the
 * sandbox was deleted and re-created, by us or by hand), the old process would program the
 * dead namespace. So every batch compares the namespace's inode with the one the process is in
 * (a stat); on a change the process is replaced and the batch runs again (batches are
 * idempotent: REPLACE semantics). iproute2 also caches each device's index by name for its
 * lifetime: a batch that finds no device of a cached name runs again on a new process. Idle
 * sessions end after `idleMs`; the agent's exit ends them too (stdin closes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { readlinkSync, statSync } from 'node:fs'
import { parseBatchErrors, type BatchFailure, type BatchResult } from './iproute.js'

/** A line that fails in both tools without any effect: no device name may contain '/'. */
const MARKER: Record<'ip' | 'bridge', string> = { ip: 'link show dev ovnet/sync', bridge: 'fdb show dev ovnet/sync' }
const FAILED = /^Command failed .*:(\d+)$/
/** What a line naming a device by a cached, no longer valid index gets. */
const STALE_INDEX = /No such device|Cannot find device|unknown ifindex/

export interface SessionOptions {
  /** argv of the tool in batch mode, e.g. ['ip', '-n', NAME, '-force', '-batch', '-']. */
  argv: readonly string[]
  tool: 'ip' | 'bridge'
  /** The namespace's name in /run/netns (for the inode check); undefined = no check. */
  netns: string | undefined
  timeoutMs: number
  idleMs: number
}

interface Pending {
  /** Line number (process-wide) of the batch's first line and of its marker. */
  first: number
  marker: number
  failures: BatchFailure[]
  stderr: string[]
  resolve: (r: BatchResult) => void
  timer: NodeJS.Timeout
}

export class BatchSession {
  private child: ChildProcessWithoutNullStreams | undefined
  private lines = 0
  private pending: Pending | undefined
  private messages: string[] = []
  private buf = ''
  private queue: Promise<unknown> = Promise.resolve()
  private idle: NodeJS.Timeout | undefined
  /** Inode of the namespace the process is in, known after its first batch. */
  private nsIno: number | undefined
  private closed = false

  constructor (private readonly o: SessionOptions) {}

  /** Run `lines` as one batch; batches run one at a time, in call order. Never rejects. */
  run (lines: readonly string[]): Promise<BatchResult> {
    const p = this.queue.then(() => this.runNow(lines))
    this.queue = p.catch(() => {})
    return p
  }

  /** The current process' pid (undefined when none runs). */
  get pid (): number | undefined { return this.child?.pid }

  /** End the process for good (queued batches end as aborted). */
  close (): void {
    this.closed = true
    this.stop()
  }

  private async runNow (lines: readonly string[]): Promise<BatchResult> {
    if (this.closed) return aborted('session closed')
    clearTimeout(this.idle)
    if (this.child !== undefined && !this.sameNamespace()) this.stop()
    const fresh = this.child === undefined
    let r = await this.send(lines)
    // A new process entered whatever /run/netns/NAME was when it started: check it is still so.
    if (fresh && !r.aborted && this.child !== undefined && !this.learnNamespace()) {
      this.stop()
      r = await this.send(lines)
    } else if (!fresh && STALE_INDEX.test(r.stderr)) {
      // iproute2 caches device name -> index for its lifetime: a device deleted and made anew
      // under the same name (vxlan0 rebuilt by a repair, or by hand) is unknown to this process.
      this.stop()
      r = await this.send(lines)
    }
    if (this.child !== undefined) {
      this.idle = setTimeout(() => { this.stop() }, this.o.idleMs)
      this.idle.unref()
    }
    return r
  }

  private send (lines: readonly string[]): Promise<BatchResult> {
    const child = this.child ?? this.start()
    return new Promise<BatchResult>(resolve => {
      const first = this.lines + 1
      this.lines += lines.length + 1
      const timer = setTimeout(() => {
        this.messages.push(`killed after ${this.o.timeoutMs} ms`)
        this.stop()
      }, this.o.timeoutMs)
      this.pending = { first, marker: this.lines, failures: [], stderr: [], resolve, timer }
      child.stdin.write(lines.join('\n') + '\n' + MARKER[this.o.tool] + '\n')
    })
  }

  private start (): ChildProcessWithoutNullStreams {
    const [cmd, ...args] = this.o.argv
    const child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child = child
    this.lines = 0
    this.nsIno = undefined
    this.buf = ''
    this.messages = []
    child.stdout.resume() // nothing of ours prints there; never let the pipe fill up
    child.stderr.setEncoding('utf8')
    // Output of a process already replaced (stopped, killed) must not touch the new one's batch.
    child.stderr.on('data', (s: string) => { if (this.child === child) this.onStderr(s) })
    child.stdin.on('error', () => {}) // a tool that exited: seen on 'close'
    child.on('error', (e) => {
      if (this.child === child) this.messages.push(`cannot run ${cmd as string}: ${e.message}`)
    })
    child.on('close', (code) => {
      if (this.child !== child) return
      this.child = undefined
      this.finish(true, code ?? 128)
    })
    for (const s of [child, child.stdin, child.stdout, child.stderr]) (s as { unref?: () => void }).unref?.()
    return child
  }

  private onStderr (s: string): void {
    this.buf += s
    let nl: number
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim()
      this.buf = this.buf.slice(nl + 1)
      if (line === '') continue
      const m = FAILED.exec(line)
      if (m === null) { this.messages.push(line); continue }
      const n = Number(m[1])
      const p = this.pending
      const message = this.messages.join('; ')
      this.messages = []
      if (p === undefined) continue
      if (n === p.marker) {
        this.finish(false, 0)
      } else if (n >= p.first && n < p.marker) {
        p.failures.push({ line: n - p.first + 1, message })
        p.stderr.push(message, line)
      }
    }
  }

  /** Resolve the pending batch: at its marker, or aborted when the process ended before it. */
  private finish (abortedByExit: boolean, code: number): void {
    const p = this.pending
    if (p === undefined) return
    this.pending = undefined
    clearTimeout(p.timer)
    if (abortedByExit) {
      if (this.buf.trim() !== '') this.messages.push(this.buf.trim())
      this.buf = ''
      const stderr = [...p.stderr, ...this.messages].join('\n')
      this.messages = []
      // Lines reported failed before the exit keep their attribution (parseBatchErrors' form).
      const failures = p.failures.length > 0 ? p.failures : parseBatchErrors(stderr)
      p.resolve({ code: code === 0 ? 1 : code, stdout: '', stderr, failures, aborted: true })
      return
    }
    p.resolve({ code: p.failures.length > 0 ? 1 : 0, stdout: '', stderr: p.stderr.join('\n'), failures: p.failures,
      aborted: false })
  }

  private stop (): void {
    clearTimeout(this.idle)
    const c = this.child
    if (c === undefined) return
    this.child = undefined
    c.stdin.end()
    c.kill('SIGKILL')
    this.finish(true, 128)
  }

  /** The namespace's file was made anew since this process entered it: end the process. */
  dropIfStale (): void {
    if (this.child !== undefined && !this.sameNamespace()) this.stop()
  }

  private learnNamespace (): boolean {
    const pid = this.child?.pid
    if (this.o.netns === undefined || pid === undefined) return true
    const mine = procNetnsIno(pid)
    this.nsIno = mine
    return mine !== undefined && mine === netnsIno(this.o.netns)
  }

  private sameNamespace (): boolean {
    if (this.o.netns === undefined || this.nsIno === undefined) return true
    return netnsIno(this.o.netns) === this.nsIno
  }
}

function aborted (why: string): BatchResult {
  return { code: 1, stdout: '', stderr: why, failures: [], aborted: true }
}

// Synchronous on purpose: both are in-memory filesystems (~2 µs a call); the promise forms cost
// ~60 µs of thread-pool round trip, on every batch.
function netnsIno (name: string): number | undefined {
  return statSync(`/run/netns/${name}`, { throwIfNoEntry: false })?.ino
}

function procNetnsIno (pid: number): number | undefined {
  let link = ''
  try { link = readlinkSync(`/proc/${pid}/ns/net`) } catch { /* the process is gone */ }
  const m = /^net:\[(\d+)\]$/.exec(link)
  return m === null ? undefined : Number(m[1])
}
