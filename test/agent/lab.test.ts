/**
 * The netns lab on real namespaces (root). Every test uses its own random prefix and the after
 * hooks remove whatever that prefix left, whether the test passed or not.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import {
  addNetns, allReachable, createContainer, createLab, destroyLab, execIn, formatPingMatrix, labNamespaces,
  LabExistsError, labStatus, listNetns, pidsIn, pingMatrix, spawnIn, listLinks
} from '../../deploy/lab/index.js'
import { REPO, run } from './helpers.js'
import { pollUntil } from '../../core/index.js'

const newPrefix = (): string => `ovt${randomBytes(3).toString('hex')}`

describe('netns lab (real namespaces, root)', function () {
  this.timeout(60_000)
  const used: string[] = []
  let rootLinksBefore: string[] = []

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    rootLinksBefore = await listLinks(undefined)
  })
  afterEach(async () => {
    for (const p of used.splice(0)) await destroyLab(p)
  })
  after(async () => {
    const left = (await listNetns()).filter(n => n.startsWith('ovt') || n.startsWith('ovnet-ovt'))
    assert.deepEqual(left, [], 'no lab namespace left behind')
    assert.deepEqual((await listLinks(undefined)).sort(), rootLinksBefore.sort(), 'no device added to the root namespace')
  })

  const prefix = (): string => { const p = newPrefix(); used.push(p); return p }

  it('builds N hosts on an underlay bridge in its own namespace; every host reaches every other', async () => {
    const p = prefix()
    const lab = await createLab({ hosts: 3, prefix: p })
    assert.deepEqual(await labNamespaces(p), [`${p}-h1`, `${p}-h2`, `${p}-h3`, `${p}-underlay`])
    const s = await labStatus(p)
    assert.deepEqual(s.underlay?.bridgePorts.sort(), ['h1', 'h2', 'h3'])
    assert.deepEqual(s.hosts.map(h => [h.ns, h.ip, h.up]), [[`${p}-h1`, '198.18.0.11', true], [`${p}-h2`, '198.18.0.12', true], [`${p}-h3`, '198.18.0.13', true]])

    const targets = lab.hosts.map(h => ({ name: h.name, ns: h.ns, ip: h.ip }))
    const m = await pingMatrix(targets)
    assert.ok(allReachable(m), formatPingMatrix(targets, m))
    // Loopback is up in every host namespace.
    assert.equal((await execIn(lab.hosts[0]!.ns, 'ping', ['-c', '1', '-W', '1', '127.0.0.1'])).code, 0)
    // The underlay is isolated: the root namespace has no route into it.
    assert.equal((await run('ip', ['route', 'show', 'to', 'match', '198.18.0.11'])).stdout.split('\n').filter(l => l.includes('198.18.0')).join(''), '')
  })

  it('a container namespace has lo up and no other link; the ping matrix reports what fails', async () => {
    const p = prefix()
    const lab = await createLab({ hosts: 1, prefix: p })
    const c = await createContainer(p, 'h1', 'c1')
    assert.equal(c, `${p}-h1-c1`)
    assert.deepEqual((await labStatus(p)).containers, [c])
    assert.deepEqual(await listLinks(c), ['lo'])
    assert.equal((await execIn(c, 'ping', ['-c', '1', '-W', '1', '127.0.0.1'])).code, 0)
    const targets = [{ name: 'h1', ns: lab.hosts[0]!.ns, ip: lab.hosts[0]!.ip }, { name: 'c1', ns: c, ip: '10.99.0.2' }]
    const m = await pingMatrix(targets, { timeoutS: 1 })
    assert.equal(allReachable(m), false)
    assert.equal(m.get('h1')?.get('c1'), false)
    assert.match(formatPingMatrix(targets, m), /^h1 +· +--$/m)
  })

  it('destroyLab removes everything, is idempotent, and stops processes left in the lab', async () => {
    const p = prefix()
    const lab = await createLab({ hosts: 2, prefix: p })
    await createContainer(p, 'h2', 'c1')
    const sleeper = spawnIn(lab.hosts[1]!.ns, 'sleep', ['300'], { stdio: 'ignore' })
    const gone = new Promise(resolve => sleeper.once('exit', resolve))
    // `ip netns exec` enters the namespace and then execs: on a loaded machine, a moment later
    await pollUntil('the sleeper in h2', async () => (await pidsIn(lab.hosts[1]!.ns)).includes(sleeper.pid!), { timeoutMs: 5000 })
    assert.deepEqual(await pidsIn(lab.hosts[1]!.ns), [sleeper.pid])
    // What a killed agent leaves: an overlay namespace named after its node (= host namespace).
    await addNetns(`ovnet-${p}-h1-0123456789ab`)
    await destroyLab(p)
    await gone
    assert.deepEqual(await labNamespaces(p), [])
    assert.deepEqual((await listNetns()).filter(n => n.includes(p)), [])
    await destroyLab(p) // again: nothing to do, no error
    assert.deepEqual(await labNamespaces(p), [])
  })

  it('cleans up the remains of a crashed run and refuses to build over an existing lab', async () => {
    const p = prefix()
    // What a run killed half-way through creation leaves: a host namespace without its underlay.
    await addNetns(`${p}-h1`)
    await assert.rejects(createLab({ hosts: 2, prefix: p }), LabExistsError)
    await destroyLab(p)
    const lab = await createLab({ hosts: 2, prefix: p })
    assert.equal(lab.hosts.length, 2)
  })

  it('rejects bad prefixes and host counts before touching anything', async () => {
    await assert.rejects(createLab({ hosts: 2, prefix: 'Bad-Prefix' }), /lab prefix/)
    await assert.rejects(createLab({ hosts: 0, prefix: newPrefix() }), /1-200 hosts/)
    await assert.rejects(destroyLab('x'), /lab prefix/)
  })

  it('the lab CLI: up, status --json, down', async () => {
    const p = prefix()
    const lab = (args: string[]) => run(process.execPath, ['--import', 'tsx', join(REPO, 'deploy/lab/lab.ts'), ...args])
    const up = await lab(['up', '--hosts', '2', '--prefix', p])
    assert.equal(up.code, 0, up.stderr)
    assert.match(up.stdout, new RegExp(`h2 +${p}-h2 +198\\.18\\.0\\.12`))
    const again = await lab(['up', '--hosts', '2', '--prefix', p])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /already exists/)
    const status = JSON.parse((await lab(['status', '--prefix', p, '--json'])).stdout) as { hosts: unknown[] }
    assert.equal(status.hosts.length, 2)
    const down = await lab(['down', '--prefix', p])
    assert.equal(down.code, 0, down.stderr)
    assert.match(down.stdout, /removed lab .* \(3 namespaces\)/)
    assert.deepEqual(await labNamespaces(p), [])
  })
})
