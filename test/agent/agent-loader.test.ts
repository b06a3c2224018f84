/**
 * How `ovnet agent` loads (agent/agent-loader.ts, issue 12): a real agent process started the
 * documented way (bin/ovnet.js on the build, in a netns lab host, root) runs the agent from the
 * bundle the build made (dist/bundle/agent.js) — no libp2p, gossipsub or noise module file is
 * loaded from node_modules, only the native modules kept outside the bundle — and works from it:
 * a network and an attach.
 * Evidence: a module resolve hook (--import) appends every URL resolved to a file.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { ApiClient } from '../../agent/index.js'
import { generateClusterKey } from '../../networkdb/index.js'
import { createContainer, createLab, destroyLab, spawnIn, type Lab } from '../../deploy/lab/index.js'
import { OVNET_BIN, packagesOf, REPO, until } from './helpers.js'

const HOOKS = `
import { appendFileSync } from 'node:fs'
export async function resolve (specifier, context, next) {
  const r = await next(specifier, context)
  appendFileSync(process.env.OVNET_MODULE_TRACE, r.url + '\\n')
  return r
}`
const TRACER = 'data:text/javascript,' + encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify('data:text/javascript,' + encodeURIComponent(HOOKS))})`)

describe('ovnet agent: loaded from the bundle (root)', function () {
  this.timeout(120_000)
  const prefix = `fpt${randomBytes(3).toString('hex')}`
  let lab: Lab | undefined
  let child: ChildProcess | undefined

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    lab = await createLab({ hosts: 1, prefix })
  })
  after(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await new Promise(resolve => { child!.once('exit', resolve); setTimeout(resolve, 20_000) })
      child.kill('SIGKILL')
    }
    if (lab !== undefined) await destroyLab(prefix)
  })

  it('runs dist/bundle/agent.js, not the module files; a network and an attach work', async () => {
    const h = lab!.hosts[0]!
    const dir = lab!.stateDir
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const key = join(dir, 'cluster.key')
    await generateClusterKey(key)
    const trace = join(dir, 'modules.txt')
    const socket = join(dir, 'ovnet.sock')
    child = spawnIn(h.ns, process.execPath, [
      '--import', TRACER, OVNET_BIN, 'agent',
      '--name', h.ns, '--bind', `${h.ip}:7946`, '--advertise', h.ip, '--cluster-key', key,
      '--data-dir', join(dir, 'data'), '--socket', socket, '--wg-interface', `w${prefix}`.slice(0, 15), '--log-level', 'warn'
    ], { cwd: REPO, stdio: 'ignore', env: { ...process.env, OVNET_MODULE_TRACE: trace } })
    const client = new ApiClient(socket, { timeoutMs: 20_000 })
    await until('agent answers', async () => { await client.ping(); return true }, 60_000)
    await client.createNetwork({ Name: 'fpnet', Subnet: '10.79.0.0/24' })
    const ep = await client.attach('fpnet', { Netns: await createContainer(prefix, h.name, 'c1'), Name: 'c1' })
    assert.match(ep.IPv4Address, /^10\.79\.0\./)

    const urls = (await readFile(trace, 'utf8')).split('\n').filter(u => u !== '')
    assert.ok(urls.some(u => u.endsWith('/dist/bundle/agent.js')), `the bundle ran: ${urls.filter(u => u.includes('/dist/')).slice(0, 8).join(' ')}`)
    assert.ok(!urls.some(u => u.includes('/dist/agent/daemon.js') || u.includes('/dist/networkdb/')), 'no unbundled agent module')
    const pkgs = [...packagesOf(urls)]
    const inBundle = pkgs.filter(p => p === 'libp2p' || p.startsWith('@libp2p/') || p.startsWith('@chainsafe/') || p === 'pino')
    assert.deepEqual(inBundle, [], `loaded from node_modules: ${pkgs.join(' ')}`)
    assert.ok(pkgs.includes('lmdb'), `the native modules stay outside the bundle: ${pkgs.join(' ')}`)
  })
})
