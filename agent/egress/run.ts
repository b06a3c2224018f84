/** Runs one command of the egress room (ip, iptables-save/-restore, nsenter) with optional stdin. */
import { spawn } from 'node:child_process'

/** The command could not be started at all (not installed, not executable). */
export class SpawnError extends Error {
  constructor (readonly cmd: string, readonly reason: Error) {
    super(`${cmd}: ${reason.message}`)
    this.name = 'SpawnError'
  }
}

/** Resolves with stdout on exit 0; rejects with SpawnError, or an Error naming the exit and stderr. */
export async function run (cmd: string, args: readonly string[], input?: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
    child.once('error', err => { reject(new SpawnError(cmd, err)) })
    child.once('close', code => {
      if (code === 0) resolve(stdout)
      else reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code ?? 'signal'}): ${stderr.trim()}`))
    })
    if (input !== undefined) child.stdin!.end(input)
  })
}
