/**
 * How `ovnet agent` loads (agent/agent-loader.ts, issue 12): a real agent process started the
 * documented way (bin/ovnet.js on the build, in a netns lab host, root) runs the agent from the
 * bundle the build made (dist/bundle/agent.js) — no libp2p, gossipsub or noise module file is
 * loaded from node_modules, only the native modules kept outside the bundle — and V8's young
 * generation stays at its initial size (2 MiB: two 1 MiB semi-spaces) through start-up, a network
 * and an attach, where node's default grows it to 32 MiB.
 * Evidence: a module resolve hook (--import) appends every URL resolved to a file; a SIGUSR2
 * handler (--import) writes V8's heap space statistics.
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
const HEAP = 'data:text/javascript,' + encodeURIComponent(`
import { writeFileSync } from 'node:fs'
import { getHeapSpaceStatistics } from 'node:v8'
process.on('SIGUSR2', () => { writeFileSync(process.env.OVNET_HEAP_FILE, JSON.stringify(getHeapSpaceStatistics())) })`)

describe('ovnet agent: loaded from the bundle, with a small young generation (root)', function () {
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

  it('runs dist/bundle/agent.js; new space 2 MiB after start, a network and an attach', async () => {
    const h = lab!.hosts[0]!
    const dir = lab!.stateDir
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const key = join(dir, 'cluster.key')
    await generateClusterKey(key)
    const trace = join(dir, 'modules.txt')
    const heap = join(dir, 'heap.json')
    const socket = join(dir, 'ovnet.sock')
    child = spawnIn(h.ns, process.execPath, [
      '--import', TRACER, '--import', HEAP, OVNET_BIN, 'agent',
      '--name', h.ns, '--bind', `${h.ip}:7946`, '--advertise', h.ip, '--cluster-key', key,
      '--data-dir', join(dir, 'data'), '--socket', socket, '--wg-interface', `w${prefix}`.slice(0, 15), '--log-level', 'warn'
    ], { cwd: REPO, stdio: 'ignore', env: { ...process.env, OVNET_MODULE_TRACE: trace, OVNET_HEAP_FILE: heap } })
    const client = new ApiClient(socket, { timeoutMs: 20_000 })
    await until('agent answers', async () => { await client.ping(); return true }, 60_000)
    await client.createNetwork({ Name: 'fpnet', Subnet: '10.79.0.0/24' })
    await client.attach('fpnet', { Netns: await createContainer(prefix, h.name, 'c1'), Name: 'c1' })

    const urls = (await readFile(trace, 'utf8')).split('\n').filter(u => u !== '')
    assert.ok(urls.some(u => u.endsWith('/dist/bundle/agent.js')), `the bundle ran: ${urls.filter(u => u.includes('/dist/')).slice(0, 8).join(' ')}`)
    assert.ok(!urls.some(u => u.includes('/dist/agent/daemon.js') || u.includes('/dist/networkdb/')), 'no unbundled agent module')
    const pkgs = [...packagesOf(urls)]
    const inBundle = pkgs.filter(p => p === 'libp2p' || p.startsWith('@libp2p/') || p.startsWith('@chainsafe/') || p === 'pino')
    assert.deepEqual(inBundle, [], `loaded from node_modules: ${pkgs.join(' ')}`)
    assert.ok(pkgs.includes('lmdb'), `the native modules stay outside the bundle: ${pkgs.join(' ')}`)

    child.kill('SIGUSR2')
    let spaces: Array<{ space_name: string, space_size: number }> = []
    await until('heap statistics written', async () => {
      try { spaces = JSON.parse(await readFile(heap, 'utf8')) as typeof spaces; return true } catch { return false }
    }, 10_000)
    const newSpace = spaces.find(s => s.space_name === 'new_space')
    assert.ok(newSpace !== undefined, JSON.stringify(spaces))
    assert.ok(newSpace.space_size <= 2 * 2 ** 20, `new space ${newSpace.space_size} bytes`)
  })
})
