/** Helpers shared by the agent tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { pollUntil } from '../../core/index.js'
import { generateClusterKey } from '../../networkdb/index.js'

export const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const OVNET_BIN = join(REPO, 'bin', 'ovnet.js')

/** A private temp directory; `cleanup` removes it (call it from an after hook). */
export async function tempDir (prefix = 'ovnet-agent-'): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** A temporary directory holding a fresh cluster key (`key`), for agent configuration tests. */
export async function keyedTempDir (): Promise<{ dir: string, key: string, cleanup: () => Promise<void> }> {
  const t = await tempDir()
  const key = join(t.dir, 'cluster.key')
  await generateClusterKey(key)
  return { ...t, key }
}

/**
 * A `keyedTempDir` for the enclosing describe: made in its `before`, removed in its `after`. The
 * fields are set once `before` has run.
 */
export function keyedTempDirFixture (): { dir: string, key: string } {
  const f = { dir: '', key: '' }
  let cleanup = async (): Promise<void> => {}
  before(async () => { ({ dir: f.dir, key: f.key, cleanup } = await keyedTempDir()) })
  after(async () => { await cleanup() })
  return f
}

/** The npm packages (scoped names whole) that a list of loaded module URLs comes from. */
export const packagesOf = (urls: string[]): Set<string> => new Set(urls.flatMap(u => {
  const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)
  return m === null ? [] : [m[1]!]
}))

export interface RunResult { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** Run a command to completion, capturing its output. */
export async function run (cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number } = {}): Promise<RunResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 30_000)
    child.once('error', reject)
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

/** Run the real `ovnet` launcher (bin/ovnet.js) as a child process. */
export async function ovnet (args: readonly string[], opts: { socket?: string, env?: NodeJS.ProcessEnv, cwd?: string } = {}): Promise<RunResult> {
  const env = { ...process.env, ...opts.env }
  delete env.OVNET_SOCKET
  if (opts.env?.OVNET_SOCKET !== undefined) env.OVNET_SOCKET = opts.env.OVNET_SOCKET
  const full = opts.socket === undefined ? args : [...args, '--socket', opts.socket]
  return await run(process.execPath, [OVNET_BIN, ...full], { env, ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) })
}

/** Poll until `pred` holds (for real-time conditions such as a child process being ready). */
export async function waitFor (pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 25): Promise<void> {
  await pollUntil('condition', pred, { timeoutMs, stepMs })
}

/**
 * Leave a socket file nobody listens on, exactly as a SIGKILLed agent does: a child binds it and
 * is killed before it can unlink it.
 */
export async function makeStaleSocket (path: string): Promise<void> {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`
  const r = await run(process.execPath, ['-e', script])
  if (r.signal !== 'SIGKILL') throw new Error(`stale socket helper did not die as planned: ${r.stderr}`)
}

/**
 * Wait until `fn` holds (a throw counts as not yet), polling every `stepMs`; fails with `what`
 * after `timeoutMs`.
 */
export async function until (what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 20_000, stepMs = 200): Promise<void> {
  await pollUntil(what, fn, { timeoutMs, stepMs })
}
