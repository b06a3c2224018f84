/**
 * Importing a layer's index has no side effects: no process handler, none of the dependency
 * patches, no libp2p stack and no LMDB. Each built index (dist/, as users run it) is imported in a
 * child whose module resolve hook records every URL; networkdb/adapters.js is the control that shows
 * the trace sees the patches and the handler when they do load.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { packagesOf, REPO, run, tempDir } from '../agent/helpers.js'

const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(process.env.OVNET_MODULE_TRACE, r.url + '\\n')
  return r
}`
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(HOOKS))})`
const TRACER = 'data:text/javascript,' + encodeURIComponent(REGISTER)

const PATCHES = ['xsalsa20-fix.js', 'yamux-window-fix.js', 'libp2p-guard.js']
const STACK = ['libp2p', '@chainsafe/libp2p-yamux', '@chainsafe/libp2p-noise', '@libp2p/tcp', '@libp2p/gossipsub', 'lmdb']

describe('layer indexes: importing one has no side effects', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  let n = 0
  before(async () => { ({ dir, cleanup } = await tempDir('ovnet-index-')) })
  after(async () => { await cleanup() })

  async function load (module: string): Promise<{ handlers: number, urls: string[], pkgs: Set<string> }> {
    const trace = join(dir, `trace-${n++}.txt`)
    const url = new URL(`dist/${module}`, `file://${REPO}/`).href
    const script = `const b = process.listenerCount('uncaughtException'); await import(${JSON.stringify(url)});` +
      " process.stdout.write(String(process.listenerCount('uncaughtException') - b))"
    const r = await run(process.execPath, ['--import', TRACER, '--input-type=module', '-e', script],
      { env: { ...process.env, OVNET_MODULE_TRACE: trace } })
    assert.equal(r.code, 0, r.stderr)
    const urls = (await readFile(trace, 'utf8')).split('\n').filter(u => u !== '')
    return { handlers: Number(r.stdout), urls, pkgs: packagesOf(urls) }
  }

  for (const layer of ['core', 'proto', 'networkdb', 'overlay', 'ipam', 'agent']) {
    it(`${layer}/index.js`, async () => {
      const { handlers, urls, pkgs } = await load(`${layer}/index.js`)
      assert.ok(urls.some(u => u.endsWith(`/dist/${layer}/index.js`)), 'the index itself was traced')
      assert.equal(handlers, 0, 'no uncaughtException handler installed')
      assert.deepEqual(urls.filter(u => PATCHES.some(p => u.endsWith(`/dist/networkdb/${p}`))), [])
      assert.deepEqual(STACK.filter(p => pkgs.has(p)), [], `loaded: ${[...pkgs].join(' ')}`)
    })
  }

  it('control: networkdb/adapters.js loads the patches, the stack and the guard\'s handler', async () => {
    const { handlers, urls, pkgs } = await load('networkdb/adapters.js')
    assert.equal(handlers, 1)
    for (const p of PATCHES) assert.ok(urls.some(u => u.endsWith(`/dist/networkdb/${p}`)), p)
    assert.ok(pkgs.has('libp2p') && pkgs.has('lmdb'), [...pkgs].join(' '))
  })
})
