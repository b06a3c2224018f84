/**
 * The per-network kernel lock (overlay/shared-lock.ts) and what the driver gets from it: attaches
 * to one network run their endpoint setup side by side, another network never waits for a stuck
 * one, and sandbox creation and removal stay exclusive.
 */
import assert from 'node:assert/strict'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import type { EndpointSpec } from '../../overlay/dataplane.js'
import { SharedLock } from '../../overlay/shared-lock.js'
import { createNet, joinLocal, NID, rig } from './helpers.js'

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A dataplane whose addEndpoint waits until released, recording how many run at once. */
class GatedDataplane extends MemoryDataplane {
  running = 0
  maxRunning = 0
  readonly started: string[] = []
  private gates = new Map<string, () => void>()
  gate = true

  override async addEndpoint (spec: EndpointSpec): Promise<void> {
    this.running++
    this.maxRunning = Math.max(this.maxRunning, this.running)
    this.started.push(spec.eid)
    try {
      if (this.gate) await new Promise<void>(resolve => { this.gates.set(spec.eid, resolve) })
      await super.addEndpoint(spec)
    } finally {
      this.running--
    }
  }

  release (eid: string): void {
    const g = this.gates.get(eid)
    assert.ok(g !== undefined, `${eid} is waiting`)
    this.gates.delete(eid)
    g()
  }
}

describe('overlay kernel lock', () => {
  it('shared holders overlap; an exclusive one runs alone and is not overtaken by later shared ones', async () => {
    const lock = new SharedLock()
    const log: string[] = []
    const gates: Record<string, () => void> = {}
    const hold = (name: string) => async (): Promise<void> => {
      log.push(`+${name}`)
      await new Promise<void>(resolve => { gates[name] = resolve })
      log.push(`-${name}`)
    }
    const a = lock.runShared(hold('a'))
    const b = lock.runShared(hold('b'))
    const x = lock.runExclusive(hold('x'))
    const c = lock.runShared(hold('c'))
    await tick()
    assert.deepEqual(log, ['+a', '+b'])
    gates.a!(); await tick()
    assert.deepEqual(log, ['+a', '+b', '-a'], 'x waits for b, c waits behind x')
    gates.b!(); await tick()
    assert.deepEqual(log, ['+a', '+b', '-a', '-b', '+x'])
    gates.x!(); await tick()
    assert.deepEqual(log, ['+a', '+b', '-a', '-b', '+x', '-x', '+c'])
    gates.c!()
    await Promise.all([a, b, x, c])
  })

  it('a failing holder releases the lock', async () => {
    const lock = new SharedLock()
    await assert.rejects(lock.runExclusive(async () => { throw new Error('boom') }), /boom/)
    assert.equal(await lock.runShared(async () => 7), 7)
  })

  it('driver: endpoints of one network are set up concurrently once the sandbox exists', async () => {
    const dp = new GatedDataplane()
    const { driver } = rig({}, dp)
    await createNet(driver)
    const joins = ['e1', 'e2', 'e3'].map((eid, i) => joinLocal(driver, eid, `10.0.0.${i + 2}`))
    for (let i = 0; i < 20 && dp.started.length < 3; i++) await tick()
    assert.deepEqual([...dp.started].sort(), ['e1', 'e2', 'e3'], 'all three are in addEndpoint at once')
    assert.equal(dp.maxRunning, 3)
    for (const eid of ['e2', 'e3', 'e1']) dp.release(eid)
    await Promise.all(joins)
    assert.equal(driver.status().networks[0]!.endpoints.filter(e => e.joined).length, 3)
  })

  it('driver: a network whose endpoint setup is stuck does not hold up another network', async () => {
    const dp = new GatedDataplane()
    const { driver } = rig({}, dp)
    const other = 'f1e2d3c4b5a6f7e8d9c0'
    await createNet(driver)
    await createNet(driver, other, 4098)
    const stuck = joinLocal(driver, 'e1', '10.0.0.2')
    for (let i = 0; i < 20 && dp.started.length < 1; i++) await tick()
    const free = joinLocal(driver, 'e2', '10.0.0.3', other)
    for (let i = 0; i < 20 && dp.started.length < 2; i++) await tick()
    assert.deepEqual(dp.started, ['e1', 'e2'])
    dp.release('e2')
    await free
    assert.equal(driver.status().networks.find(n => n.nid === other)!.endpoints[0]!.joined, true)
    assert.equal(driver.status().networks.find(n => n.nid === NID)!.endpoints[0]!.joined, false, 'e1 still joining')
    dp.release('e1')
    await stuck
  })

  it('driver: the last leave removes the sandbox, a join racing it builds it again', async () => {
    const dp = new GatedDataplane()
    dp.gate = false
    const { driver } = rig({}, dp)
    await createNet(driver)
    await joinLocal(driver, 'e1', '10.0.0.2')
    const leave = driver.leave(NID, 'e1')
    const join = joinLocal(driver, 'e2', '10.0.0.3')
    await Promise.all([leave, join])
    const net = driver.status().networks[0]!
    assert.equal(net.sandboxStatus, 'ready')
    assert.deepEqual(net.endpoints.filter(e => e.joined).map(e => e.eid), ['e2'])
  })
})
