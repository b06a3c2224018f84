/** Spawn and drive NetworkDB node processes (test/networkdb/fixtures/node-proc.ts). */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const FIXTURE = fileURLToPath(new URL('./fixtures/node-proc.ts', import.meta.url))

export class NodeProc {
  id = ''
  addrs: string[] = []
  private child: ChildProcess | undefined
  private next = 1
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()

  constructor (readonly name: string, readonly dataDir: string, readonly keyFile: string, readonly port: number) {}

  get running (): boolean { return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null }

  async start (): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, '--data', this.dataDir, '--key', this.keyFile, '--name', this.name, '--port', String(this.port)], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.child = child
    const lines = createInterface({ input: child.stdout })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.name} did not start`)) }, 30_000)
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`${this.name} exited with ${code}`)) })
      lines.on('line', line => {
        const m = JSON.parse(line) as { ready?: boolean, id?: number | string, addrs?: string[], ok?: boolean, result?: unknown, error?: string }
        if (m.ready === true) { this.id = m.id as string; this.addrs = m.addrs!; clearTimeout(timer); resolve(); return }
        const w = this.waiting.get(m.id as number)
        this.waiting.delete(m.id as number)
        if (m.ok === true) w?.resolve(m.result)
        else w?.reject(new Error(m.error))
      })
    })
    child.on('exit', () => { for (const w of this.waiting.values()) w.reject(new Error(`${this.name} exited`)); this.waiting.clear() })
  }

  async call<T = unknown> (op: string, args: Record<string, string | string[]> = {}): Promise<T> {
    if (!this.running) throw new Error(`${this.name} is not running`)
    const id = this.next++
    return await new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child!.stdin!.write(JSON.stringify({ id, op, args }) + '\n')
    })
  }

  /** kill -9 and wait for the exit. */
  async kill (): Promise<void> {
    const c = this.child
    if (c === undefined || !this.running) return
    await new Promise<void>(resolve => { c.once('exit', () => { resolve() }); c.kill('SIGKILL') })
  }

  async stop (): Promise<void> {
    const c = this.child
    if (c === undefined || !this.running) return
    await new Promise<void>(resolve => {
      const t = setTimeout(() => { c.kill('SIGKILL') }, 5000)
      c.once('exit', () => { clearTimeout(t); resolve() })
      c.kill('SIGTERM')
    })
  }
}

export async function eventually<T> (fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    try {
      last = await fn()
      if (ok(last)) return last
    } catch { /* retry */ }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
