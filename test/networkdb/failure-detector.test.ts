/**
 * The failure detector's local health (Lifeguard): a node that misses peers others reach, or whose
 * own timers fire late, stretches its probe timeouts and period instead of suspecting healthy peers.
 */
import assert from 'node:assert/strict'
import { FakeClock, silentLogger, type Clock } from '../../core/index.js'
import { defaultConfig } from '../../networkdb/config.js'
import { FailureDetector } from '../../networkdb/failure-detector.js'
import type { Member } from '../../networkdb/membership.js'
import type { Transport } from '../../networkdb/transport.js'

const member = (id: string): Member => ({ id, name: id, advertise: '', addrs: [], inc: 1, status: 'alive', since: 0 })

interface Rig {
  fd: FailureDetector
  clock: FakeClock
  timeouts: number[]
  unreachable: string[]
  /** Whether the direct probe answers, and what the helpers say (undefined: they do not answer). */
  direct: boolean
  indirect: boolean | undefined
}

function rig (clockOverride?: (c: FakeClock) => Clock): Rig {
  const clock = new FakeClock()
  const r = { clock, timeouts: [] as number[], unreachable: [] as string[], direct: true, indirect: true } as Rig
  const transport = {
    probe: async (_peer: string, timeoutMs: number): Promise<number> => {
      r.timeouts.push(timeoutMs)
      if (r.direct) return 1
      throw new Error('timeout')
    }
  } as unknown as Transport
  r.fd = new FailureDetector({
    transport,
    clock: clockOverride?.(clock) ?? clock,
    config: defaultConfig,
    logger: silentLogger,
    random: () => 0.5,
    targets: () => [member('b')],
    helpers: () => [member('b'), member('c'), member('d')],
    indirectProbe: async () => {
      if (r.indirect === undefined) throw new Error('no answer')
      return r.indirect
    },
    onUnreachable: (id) => { r.unreachable.push(id) }
  })
  return r
}

describe('failure detector: local health', () => {
  it('a miss of a peer that others reach raises the score and stretches the probe timeout; answers bring it back', async () => {
    const r = rig()
    r.fd.start()
    r.direct = false
    for (let i = 0; i < 3; i++) await r.clock.advance(r.fd.scale(defaultConfig.probeIntervalMs))
    assert.equal(r.fd.healthScore, 3)
    assert.deepEqual(r.unreachable, [], 'the peer was reached indirectly: no suspicion')
    assert.deepEqual(r.timeouts, [300, 600, 900])
    assert.equal(r.fd.scale(defaultConfig.suspicionTimeoutMs), 4000)
    r.direct = true
    for (let i = 0; i < 3; i++) await r.clock.advance(r.fd.scale(defaultConfig.probeIntervalMs))
    assert.equal(r.fd.healthScore, 0)
    r.fd.stop()
  })

  it('nobody reaches the peer: it is suspected; nobody even answering raises the score too', async () => {
    const r = rig()
    r.fd.start()
    r.direct = false
    r.indirect = false
    await r.clock.advance(defaultConfig.probeIntervalMs)
    assert.deepEqual(r.unreachable, ['b'])
    assert.equal(r.fd.healthScore, 0, 'helpers answered "unreachable": the peer, not us')
    r.indirect = undefined
    await r.clock.advance(defaultConfig.probeIntervalMs)
    assert.deepEqual(r.unreachable, ['b', 'b'], 'an isolated node still suspects (a partition)')
    assert.equal(r.fd.healthScore, 1)
    r.fd.stop()
  })

  it('the score is capped at 7 (timeouts at most 8x)', async () => {
    const r = rig()
    r.fd.start()
    r.direct = false
    for (let i = 0; i < 12; i++) await r.clock.advance(r.fd.scale(defaultConfig.probeIntervalMs))
    assert.equal(r.fd.healthScore, FailureDetector.MAX_HEALTH)
    assert.equal(Math.max(...r.timeouts), 8 * defaultConfig.probeTimeoutMs)
    r.fd.stop()
  })

  it('its own timer firing late (a stalled event loop) raises the score', async () => {
    let skew = 0 // how far the loop is behind: now() runs ahead of the timers
    const r = rig(c => ({ now: () => c.now() + skew, setTimeout: (fn, ms) => c.setTimeout(fn, ms), clearTimeout: (h) => { c.clearTimeout(h) } }))
    r.direct = false
    r.indirect = false // the probe itself changes nothing: helpers say the peer is unreachable
    r.fd.start()
    await r.clock.advance(defaultConfig.probeIntervalMs)
    assert.equal(r.fd.healthScore, 0, 'on time')
    skew = 400 // > probeTimeoutMs
    await r.clock.advance(defaultConfig.probeIntervalMs)
    assert.equal(r.fd.healthScore, 1, 'late by 400 ms')
    r.fd.stop()
  })
})
