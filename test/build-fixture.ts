/**
 * Mocha global setup: the tests run `bin/ovnet.js`, which runs the build (dist/), as users do.
 * Rebuild it (tsc -p tsconfig.build.json, incremental, then the agent's bundle: scripts/bundle.mjs)
 * when a source file is newer than the last build or the bundle is missing, so a test never runs
 * stale JavaScript.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const STAMP = join(REPO, 'dist', '.tsbuildinfo')
const BUNDLE = join(REPO, 'dist', 'bundle', 'agent.js')
const SOURCES = ['core', 'proto', 'networkdb', 'overlay', 'ipam', 'agent', 'deploy', 'bench']

function newest (path: string): number {
  const s = statSync(path)
  if (!s.isDirectory()) return path.endsWith('.ts') || path.endsWith('.json') ? s.mtimeMs : 0
  return Math.max(s.mtimeMs, ...readdirSync(path).map(f => newest(join(path, f))))
}

export function mochaGlobalSetup (): void {
  let built = 0
  try { built = statSync(STAMP).mtimeMs } catch {}
  const changed = Math.max(...SOURCES.map(d => newest(join(REPO, d))), newest(join(REPO, 'tsconfig.build.json')), newest(join(REPO, 'tsconfig.json')))
  if (changed <= built && existsSync(BUNDLE)) return
  const r = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'inherit' })
  if (r.status !== 0) throw new Error('the build (tsc -p tsconfig.build.json) failed: the tests run the built JavaScript')
  const b = spawnSync(process.execPath, [join(REPO, 'scripts', 'bundle.mjs')], { cwd: REPO, stdio: 'inherit' })
  if (b.status !== 0) throw new Error('the agent\'s bundle (scripts/bundle.mjs) failed: the tests run the built JavaScript')
  // tsc leaves its build info alone when no output changed (a touched file): mark it current.
  const now = new Date()
  utimesSync(STAMP, now, now)
}
