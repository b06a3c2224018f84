/**
 * Thin, typed wrappers around iproute2 for the netns lab: run `ip` (optionally inside a
 * namespace, optionally a whole batch in one process), list and remove namespaces, run or spawn a
 * command inside a namespace. Every failure carries the command and its stderr.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'

export class CommandError extends Error {
  constructor (readonly command: string, readonly code: number | null, readonly stderr: string) {
    super(`${command} failed (exit ${code ?? 'signal'}): ${stderr.trim() || 'no output'}`)
    this.name = 'CommandError'
  }
}

export interface ExecResult { stdout: string, stderr: string, code: number | null }

/** Run a program to completion; `input` goes to its stdin. Never throws for a non-zero exit. */
export async function exec (cmd: string, args: readonly string[], input?: string): Promise<ExecResult> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', reject)
    child.once('close', code => { resolve({ stdout, stderr, code }) })
    if (input !== undefined) child.stdin!.end(input)
  })
}

/** Run and require success; returns stdout. */
export async function execOk (cmd: string, args: readonly string[], input?: string): Promise<string> {
  const r = await exec(cmd, args, input)
  if (r.code !== 0) throw new CommandError([cmd, ...args].join(' '), r.code, r.stderr)
  return r.stdout
}

/** `ip [-n NS] ARGS…` */
export async function ip (ns: string | undefined, args: readonly string[]): Promise<string> {
  return await execOk('ip', ns === undefined ? [...args] : ['-n', ns, ...args])
}

/**
 * Several `ip` commands in one process (`ip -batch -`): a lab of N hosts is a few dozen link and
 * address changes, and one process per change would dominate its start-up time.
 */
export async function ipBatch (ns: string | undefined, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return
  const args = ns === undefined ? ['-batch', '-'] : ['-n', ns, '-batch', '-']
  await execOk('ip', args, lines.join('\n') + '\n')
}

/** Names of the named network namespaces (/run/netns). */
export async function listNetns (): Promise<string[]> {
  const out = await ip(undefined, ['-json', 'netns', 'list'])
  if (out.trim() === '') return []
  return (JSON.parse(out) as Array<{ name: string }>).map(n => n.name)
}

export async function addNetns (name: string): Promise<void> {
  await ip(undefined, ['netns', 'add', name])
  // A new namespace's loopback is down: nothing, not even 127.0.0.1, works until it is up.
  await ip(name, ['link', 'set', 'lo', 'up'])
}

/** Remove a namespace; a missing one is fine (idempotent clean-up). */
export async function delNetns (name: string): Promise<void> {
  const r = await exec('ip', ['netns', 'del', name])
  if (r.code !== 0 && !/No such file or directory/.test(r.stderr)) throw new CommandError(`ip netns del ${name}`, r.code, r.stderr)
}

/** Pids of the processes inside a namespace. */
export async function pidsIn (ns: string): Promise<number[]> {
  const r = await exec('ip', ['netns', 'pids', ns])
  if (r.code !== 0) return []
  return r.stdout.split('\n').map(s => Number(s.trim())).filter(n => Number.isInteger(n) && n > 0)
}

/** Run a command inside a namespace to completion (never throws for a non-zero exit). */
export async function execIn (ns: string, cmd: string, args: readonly string[] = [], input?: string): Promise<ExecResult> {
  return await exec('ip', ['netns', 'exec', ns, cmd, ...args], input)
}

/**
 * Start a long-running command inside a namespace (an agent, a server). `nsenter --net` enters
 * only the network namespace: unlike `ip netns exec` it keeps the root mount namespace, so the
 * namespaces the command creates (an agent's sandboxes, bind-mounted in /run/netns) are visible
 * to everyone and outlive the process — as on a real host, which kill -9 tests depend on.
 */
export function spawnIn (ns: string, cmd: string, args: readonly string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('nsenter', [`--net=/run/netns/${ns}`, '--', cmd, ...args], opts)
}

/** Names of the links of a namespace (or the root namespace). */
export async function listLinks (ns: string | undefined): Promise<string[]> {
  const out = await ip(ns, ['-json', 'link', 'show'])
  return (JSON.parse(out) as Array<{ ifname: string }>).map(l => l.ifname)
}
