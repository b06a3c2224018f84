/**
 * Crash-safe replacement of a small file: write a temp file, fsync it, rename it over the old one,
 * fsync the directory. A crash leaves the old or the new content, never a torn one. Writes through
 * one `AtomicFile` are serialized, each complete before the next starts.
 */
import { open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

export class AtomicFile {
  private writing: Promise<void> = Promise.resolve()

  constructor (readonly path: string) {}

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
