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
})
