import assert from 'node:assert/strict'
import { FakeClock } from '../../core/index.js'
import { joinSync, JOIN_SYNC_HEDGE_MS } from '../../networkdb/join-sync.js'

/**
 * How long a joiner waits for the members it asks, on a fake clock. Each scripted member
 * answers its first frame after `answerAt` ms (never if undefined) and ends after `endAt` ms with
 * `ok`.
 */
interface Script { answerAt?: number, endAt: number, ok: boolean }

function run (scripts: Record<string, Script>): { clock: FakeClock, log: string[], done: () => boolean, wait: Promise<void> } {
  const clock = new FakeClock(0)
  const log: string[] = []
  let finished = false
  const wait = joinSync({
    clock,
    sync: async (peer, onAnswer) => {
      const s = scripts[peer]!
      log.push(`${clock.now()} ask ${peer}`)
      if (s.answerAt !== undefined) clock.setTimeout(onAnswer, s.answerAt)
      return await new Promise<boolean>(resolve => { clock.setTimeout(() => { log.push(`${clock.now()} end ${peer} ${s.ok}`); resolve(s.ok) }, s.endAt) })
    }
  }, Object.keys(scripts)).then(() => { finished = true })
  return { clock, log, done: () => finished, wait }
}

describe('join sync: every member at once, each for its own entries', function () {
  it('every member is asked at once; the join ends when the last one ended', async () => {
    const r = run({ a: { answerAt: 5, endAt: 30, ok: true }, b: { answerAt: 5, endAt: 10, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(29)
    assert.ok(!r.done())
    await r.clock.advance(1)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '0 ask b', '0 ask c', '10 end b true', '10 end c true', '30 end a true'])
  })

  it('a member that fails does not hold the others', async () => {
    const r = run({ a: { endAt: 20, ok: false }, b: { answerAt: 5, endAt: 30, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(30)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '0 ask b', '0 ask c', '10 end c true', '20 end a false', '30 end b true'])
  })

  it(`a member silent for ${JOIN_SYNC_HEDGE_MS} ms is not waited for`, async () => {
    const r = run({ a: { endAt: 5000, ok: false }, b: { answerAt: 5, endAt: 30, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(JOIN_SYNC_HEDGE_MS - 1)
    assert.ok(!r.done())
    await r.clock.advance(1)
    await r.wait
    assert.ok(r.done(), r.log.join(', '))
    await r.clock.advance(5000)
  })

  it('a member that answers slowly but started answering in time is waited for', async () => {
    const r = run({ a: { answerAt: JOIN_SYNC_HEDGE_MS - 1, endAt: 3000, ok: true }, b: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(2999)
    assert.ok(!r.done())
    await r.clock.advance(1)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '0 ask b', '10 end b true', '3000 end a true'])
  })

  it('when no member answers in time, the join waits until all ended', async () => {
    const r = run({ a: { endAt: 3000, ok: false }, b: { endAt: 2500, ok: true } })
    await r.clock.advance(2999)
    assert.ok(!r.done())
    await r.clock.advance(1)
    await r.wait
    assert.ok(r.done())
  })
})
