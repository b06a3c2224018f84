/**
 * Stand-ins for ip, bridge, nsenter, iptables-save and iptables-restore that append what they were
 * asked (argv and stdin) to a log and exit 0 with no output: with them first on PATH, or given as
 * the tool paths, a test sees every line a writer would have fed the kernel, and the kernel is
 * never touched.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface CaptureTools {
  dir: string
  /** Path of a tool stand-in (`ip`, `bridge`, `nsenter`, `iptables-save`, `iptables-restore`). */
  tool(name: string): string
  /** What was run since the last clear ('' when nothing). */
  log(): string
  clear(): void
  /** Put the stand-ins first on PATH (for code that runs tools by name); returns the undo. */
  onPath(): () => void
  remove(): void
}

export function captureTools (): CaptureTools {
  const dir = mkdtempSync(join(tmpdir(), 'trust-capture-'))
  const logFile = join(dir, 'log')
  writeFileSync(logFile, '')
  for (const name of ['ip', 'bridge', 'nsenter', 'iptables-save', 'iptables-restore']) {
    const p = join(dir, name)
    // stdin is read only when it is not a terminal and not closed (-batch -, iptables-restore)
    writeFileSync(p, [
      '#!/bin/sh',
      `printf '%s' "${name}" >> '${logFile}'`,
      `for a in "$@"; do printf ' [%s]' "$a" >> '${logFile}'; done`,
      `printf '\\n' >> '${logFile}'`,
      `if [ ! -t 0 ]; then cat >> '${logFile}'; fi`,
      'exit 0',
      ''
    ].join('\n'))
    chmodSync(p, 0o755)
  }
  return {
    dir,
    tool: name => join(dir, name),
    log: () => readFileSync(logFile, 'utf8'),
    clear: () => { writeFileSync(logFile, '') },
    onPath: () => {
      const before = process.env.PATH
      process.env.PATH = `${dir}:${before ?? ''}`
      return () => { process.env.PATH = before }
    },
    remove: () => { rmSync(dir, { recursive: true, force: true }) }
  }
}

/** Values that must never reach a batch line or a path. */
export const HOSTILE: readonly string[] = [
  'a\nlink del br0', 'a b', 'x\0y', '..', '../../etc', 'a/../b', '-all', '', 'x'.repeat(300), 'a\tb', 'a;b', 'a\rb',
  'ümlaut'
]
