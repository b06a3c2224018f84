import assert from 'node:assert/strict'
import { FakeClock, pollUntil, seededRandom, SerialQueue, sleep } from '../../core/index.js'

describe('core: poll, sleep, random, serial queue', () => {
  it('pollUntil resolves once the condition holds on the clock it is given', async () => {
    const clock = new FakeClock()
    let checks = 0
    const done = pollUntil('three checks', () => ++checks >= 3, { clock, stepMs: 10, timeoutMs: 1000 })
    await clock.advance(50)
    await done
    assert.equal(checks, 3)
  })

  it('pollUntil rejects with what it waited for after the timeout; a throw counts as not yet', async () => {
    const clock = new FakeClock()
    const p = pollUntil('never', () => { throw new Error('boom') }, { clock, stepMs: 10, timeoutMs: 30 })
    const settled = p.then(() => 'resolved', (e: Error) => e.message)
    await clock.advance(100)
    assert.equal(await settled, 'never: not within 30 ms')
  })

  it('sleep waits on the injected clock', async () => {
    const clock = new FakeClock()
    let woke = false
    const p = sleep(100, clock).then(() => { woke = true })
    await clock.advance(99)
    assert.equal(woke, false)
    await clock.advance(1)
    await p
    assert.equal(woke, true)
  })

  it('seededRandom replays the same stream from the same seed', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const xs = [a(), a(), a()]
    assert.deepEqual([b(), b(), b()], xs)
    assert.ok(xs.every(x => x >= 0 && x < 1))
    assert.notDeepEqual([seededRandom(43)()], [xs[0]])
  })

  it('SerialQueue runs tasks one at a time in order', async () => {
    const q = new SerialQueue()
    const log: string[] = []
    const slow = q.run(async () => { await new Promise(resolve => setImmediate(resolve)); log.push('a') })
    const fast = q.run(async () => { log.push('b') })
    await Promise.all([slow, fast])
    assert.deepEqual(log, ['a', 'b'])
  })
})
