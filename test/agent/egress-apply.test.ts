/**
 * LinuxEgress.apply writes to the kernel only when the view asks for something else than the last
 * successful apply wrote (an attach or detach that changes no rule and no uplink costs no
 * process); the periodic repair and an apply after a failure read and rewrite anyway. The
 * scenario runs in a network namespace of the test's own (root).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { addNetns, delNetns, exec } from '../../deploy/lab/index.js'

const SCENARIO = fileURLToPath(new URL('./fixtures/egress-apply-scenario.ts', import.meta.url))
const CHANGE = fileURLToPath(new URL('./fixtures/egress-change-scenario.ts', import.meta.url))

describe('egress: apply skips a view that changes nothing in the kernel', function () {
  this.timeout(60_000)
  const ns = `spdeg${randomBytes(3).toString('hex')}`
  before(async () => { await addNetns(ns) })
  after(async () => { await delNetns(ns) })

  it('same kernel view: nothing read; after a failure: in full; the periodic repair: in full', async () => {
    const r = await exec('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', SCENARIO])
    assert.equal(r.code, 0, r.stderr)
    const o = JSON.parse(r.stdout) as Record<string, number | boolean>
    assert.ok((o.first as number) > 0, 'the first apply reads the firewall')
    assert.equal(o.sameKernelView, o.first, 'endpoints of an internal network and subnets without egress change no rule: nothing read')
    assert.equal(o.failedRejects, true)
    assert.ok((o.retried as number) > (o.afterFail as number), 'retried in full after the failure')
    assert.equal(o.settled, o.retried)
    assert.ok((o.periodicLater as number) > (o.periodicFirst as number), 'the repair ran although nothing changed')
  })

  it('after a successful apply, a change is written without reading the kernel; a failed one in full', async () => {
    const node = `fe${randomBytes(3).toString('hex')}`
    const r = await exec('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', CHANGE, node])
    assert.equal(r.code, 0, r.stderr)
    type Step = { saves: number, uplinks: string[], batch?: string }
    const o = JSON.parse(r.stdout) as Record<'first' | 'added' | 'removed' | 'fallback', Step> & { stopped: string[] }
    const [b, c] = [`ovu${'b'.repeat(12)}`, `ovu${'c'.repeat(12)}`]
    assert.ok(o.first.saves > 0, 'the first apply reads the firewall')
    assert.deepEqual(o.first.uplinks, [b])
    assert.equal(o.added.saves, o.first.saves, 'a second network: nothing read')
    assert.deepEqual(o.added.uplinks, [b, c])
    assert.match(o.added.batch ?? '', /-A OVNET-POST -s 10\.85\.0\.0\/24 ! -o ovu\+ -j MASQUERADE/)
    assert.doesNotMatch(o.added.batch ?? '', /-I (FORWARD|POSTROUTING)/, 'the jumps are known to be there')
    assert.equal(o.removed.saves, o.first.saves, 'a network gone: nothing read')
    assert.deepEqual(o.removed.uplinks, [b])
    assert.doesNotMatch(o.removed.batch ?? '', /10\.85\.0\.0/)
    assert.ok(o.fallback.saves > 0, 'the change that failed was done in full')
    assert.deepEqual(o.fallback.uplinks, [b])
    assert.deepEqual(o.stopped, [])
  })
})
