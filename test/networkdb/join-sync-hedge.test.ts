import assert from 'node:assert/strict'
import { FakeClock } from '../../networkdb/clock.js'
import { joinSync, JOIN_SYNC_HEDGE_MS } from '../../networkdb/join-sync.js'

/**
 * The order in which a joiner asks members for the table, on a fake clock. Each scripted member
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

describe('join sync: one member gives the table, the others a digest exchange', function () {
  it('the first member gives the table; the others are asked after it, all at once', async () => {
    const r = run({ a: { answerAt: 5, endAt: 30, ok: true }, b: { answerAt: 5, endAt: 10, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(100)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '30 end a true', '30 ask b', '30 ask c', '40 end b true', '40 end c true'])
  })

  it('a member that fails is followed by the next one at once', async () => {
    const r = run({ a: { endAt: 20, ok: false }, b: { answerAt: 5, endAt: 30, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(100)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '20 end a false', '20 ask b', '50 end b true', '50 ask c', '60 end c true'])
  })

  it(`a member silent for ${JOIN_SYNC_HEDGE_MS} ms: the next is asked too, and the join does not wait for the silent one`, async () => {
    const r = run({ a: { endAt: 5000, ok: false }, b: { answerAt: 5, endAt: 30, ok: true }, c: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(JOIN_SYNC_HEDGE_MS + 100)
    assert.ok(r.done(), r.log.join(', '))
    assert.deepEqual(r.log, ['0 ask a', `${JOIN_SYNC_HEDGE_MS} ask b`, `${JOIN_SYNC_HEDGE_MS + 30} end b true`, `${JOIN_SYNC_HEDGE_MS + 30} ask c`, `${JOIN_SYNC_HEDGE_MS + 40} end c true`])
    await r.clock.advance(5000)
  })

  it('a member that answers slowly but started answering in time is not hedged', async () => {
    const r = run({ a: { answerAt: JOIN_SYNC_HEDGE_MS - 1, endAt: 3000, ok: true }, b: { answerAt: 5, endAt: 10, ok: true } })
    await r.clock.advance(4000)
    await r.wait
    assert.deepEqual(r.log, ['0 ask a', '3000 end a true', '3000 ask b', '3010 end b true'])
  })

  it('a silent member that delivers late ends the asking at once', async () => {
    const r = run({ a: { endAt: 1500, ok: true }, b: { endAt: 4000, ok: false }, c: { endAt: 10, ok: true } })
    await r.clock.advance(1505)
    assert.ok(!r.done())
    await r.clock.advance(10)
    assert.ok(r.done())
    // a delivered at 1500 while b was being waited for; c (not asked before) gets the digest exchange
    assert.deepEqual(r.log, ['0 ask a', `${JOIN_SYNC_HEDGE_MS} ask b`, '1500 end a true', '1500 ask c', '1510 end c true'])
    await r.clock.advance(5000)
  })

  it('when every member is silent, the join waits until one delivers, or all ended', async () => {
    const r = run({ a: { endAt: 9000, ok: false }, b: { endAt: 3000, ok: true } })
    await r.clock.advance(3900)
    assert.ok(!r.done())
    await r.clock.advance(200)
    assert.ok(r.done())
    assert.deepEqual(r.log, ['0 ask a', `${JOIN_SYNC_HEDGE_MS} ask b`, `${JOIN_SYNC_HEDGE_MS + 3000} end b true`])
    // nobody delivers: the join ends when the last one ended (b, asked at 1000, at 3500)
    const none = run({ a: { endAt: 3000, ok: false }, b: { endAt: 2500, ok: false } })
    await none.clock.advance(3400)
    assert.ok(!none.done())
    await none.clock.advance(200)
    assert.ok(none.done())
    await r.clock.advance(9000)
  })
})
