/**
 * Crash-safe replacement of a small file: write a temp file, fsync it, rename it over the old one,
 * fsync the directory. A crash leaves the old or the new content, never a torn one. Writes through
 * one `AtomicFile` are serialized, each complete before the next starts.
 */
import { open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { z } from 'zod'

export class AtomicFile {
  private writing: Promise<void> = Promise.resolve()

  constructor (readonly path: string) {}

  /**
   * The file's JSON checked against `schema`, or undefined when there is none yet. `what` names the
   * file in errors; a file that does not parse or does not match is an error (never silently
   * replaced: the operator moves it away).
   */
  async readJson<T> (what: string, schema: z.ZodType<T>): Promise<T | undefined> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch (err) {
      throw new Error(`corrupt ${what} ${this.path}: ${(err as Error).message} (move it away to start afresh)`)
    }
    const r = schema.safeParse(json)
    if (!r.success) {
      const issue = r.error.issues[0]
      const where = issue === undefined ? '' : `: ${issue.path.join('.') || '(top)'}: ${issue.message}`
      throw new Error(`${what} ${this.path} has an unknown format${where}`)
    }
    return r.data
  }

  async write (text: string): Promise<void> {
    const run = async (): Promise<void> => {
      const tmp = `${this.path}.tmp`
      const fh = await open(tmp, 'w', 0o600)
      try {
        await fh.writeFile(text)
        await fh.sync()
      } finally {
        await fh.close()
      }
      await rename(tmp, this.path)
      const dir = await open(dirname(this.path), 'r')
      try { await dir.sync() } finally { await dir.close() }
    }
    this.writing = this.writing.then(run, run)
    await this.writing
  }
}
