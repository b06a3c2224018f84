/**
 * What a CLI command loads (issue 12): the client commands run the built CLI (dist/, no
 * TypeScript at run time) and import neither the agent's stack (libp2p, lmdb, pino, prom-client)
 * nor its configuration (yaml, zod). Evidence: a module resolve hook, registered with --import in
 * the child, appends every URL it resolves to a file. `keygen` (which needs @libp2p/pnet) is the
 * control: it shows the hook does see dependencies, so the absence checks can fail.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ApiServer } from '../../agent/api-server.js'
import { memoryLogger } from '../../core/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { OVNET_BIN, packagesOf, run, tempDir, type RunResult } from './helpers.js'

const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(process.env.OVNET_MODULE_TRACE, r.url + '\\n')
  return r
}`
const REGISTER = `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(HOOKS))})`
const TRACER = 'data:text/javascript,' + encodeURIComponent(REGISTER)

/** Packages a client command must not load. */
const HEAVY = ['libp2p', '@libp2p/', '@chainsafe/', 'lmdb', 'pino', 'prom-client', 'msgpackr', 'yaml', 'zod', 'tsx']

describe('ovnet CLI start-up: modules a command loads', function () {
  this.timeout(60_000)
  let dir: string
  let cleanup: () => Promise<void>
  let n = 0

  before(async () => { ({ dir, cleanup } = await tempDir('ovnet-climod-')) })
  after(async () => { await cleanup() })

  async function traced (args: string[]): Promise<{ r: RunResult, urls: string[] }> {
    const trace = join(dir, `trace-${n++}.txt`)
    const env: NodeJS.ProcessEnv = { ...process.env, OVNET_MODULE_TRACE: trace }
    delete env.OVNET_SOCKET
    const r = await run(process.execPath, ['--import', TRACER, OVNET_BIN, ...args], { env })
    const urls = (await readFile(trace, 'utf8').catch(() => '')).split('\n').filter(u => u !== '')
    return { r, urls }
  }

  function assertLight (urls: string[]): void {
    assert.ok(urls.some(u => u.endsWith('/dist/agent/cli.js')), `the built CLI ran: ${urls.join(' ')}`)
    assert.ok(!urls.some(u => u.endsWith('.ts')), `no TypeScript module: ${urls.filter(u => u.endsWith('.ts')).join(' ')}`)
    const pkgs = packagesOf(urls)
    assert.ok(pkgs.has('commander'), `commander seen: ${[...pkgs].join(' ')}`)
    const heavy = [...pkgs].filter(p => HEAVY.some(h => h.endsWith('/') ? p.startsWith(h) : p === h))
    assert.deepEqual(heavy, [], `loaded: ${[...pkgs].join(' ')}`)
  }

  it('version and network ls with the agent down', async () => {
    const socket = join(dir, 'none.sock')
    const v = await traced(['version', '--socket', socket])
    assert.equal(v.r.code, 0, v.r.stderr)
    assert.match(v.r.stdout, /Agent: {2}not running/)
    assertLight(v.urls)
    const ls = await traced(['network', 'ls', '--socket', socket])
    assert.equal(ls.r.code, 3, ls.r.stderr)
    assertLight(ls.urls)
  })

  it('version and network ls with an agent answering', async () => {
    const socket = join(dir, 'up.sock')
    const server = new ApiServer(new FixtureController(), { socketPath: socket, logger: memoryLogger(), info: { Name: 'host-1', Version: '0.1.0' } })
    await server.listen()
    try {
      const v = await traced(['version', '--socket', socket])
      assert.match(v.r.stdout, /Agent: {2}0\.1\.0 \(host-1\)/, v.r.stderr)
      assertLight(v.urls)
      const ls = await traced(['network', 'ls', '--json', '--socket', socket])
      assert.equal(ls.r.code, 0, ls.r.stderr)
      assert.ok(Array.isArray(JSON.parse(ls.r.stdout)))
      assertLight(ls.urls)
    } finally {
      await server.close()
    }
  })

  it('control: keygen loads @libp2p/pnet, and the hook sees it', async () => {
    const k = await traced(['keygen', join(dir, 'cluster.key')])
    assert.equal(k.r.code, 0, k.r.stderr)
    assert.ok(packagesOf(k.urls).has('@libp2p/pnet'), [...packagesOf(k.urls)].join(' '))
  })
})
