import assert from 'node:assert/strict'
import { FakeClock } from '../../core/index.js'
import { Periodic } from '../../networkdb/periodic.js'

describe('periodic tasks', () => {
  it('without jitter: exactly every period; with jitter: whole-ms periods within [0.75, 1.25) of it, so nodes started together drift apart', async () => {
    const clock = new FakeClock()
    const t0 = clock.now()
    const p = new Periodic(clock, () => {})
    const plain: number[] = []
    const jittered: number[] = []
    let seed = 7
    const random = (): number => { seed = (seed * 48271) % 2147483647; return seed / 2147483647 }
    p.every(1000, () => { plain.push(clock.now()) })
    p.every(1000, () => { jittered.push(clock.now()) }, random)
    await clock.advance(60_000)
    p.stopAll()
    const gaps = (ts: number[]): number[] => ts.map((t, i) => t - (i === 0 ? t0 : ts[i - 1]!))
    assert.deepEqual(new Set(gaps(plain)), new Set([1000]))
    const g = gaps(jittered)
    assert.ok(g.every(x => Number.isInteger(x) && x >= 750 && x < 1250), g.join(','))
    assert.ok(new Set(g).size > 10, 'periods vary')
    await clock.advance(10_000)
    assert.equal(plain.length, 60, 'stopped')
  })
})
