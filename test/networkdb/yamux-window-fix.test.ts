import assert from 'node:assert/strict'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import '../../networkdb/yamux-window-fix.js'

describe('yamux window updates (go-yamux hysteresis)', () => {
  // The patched method on a bare object: returning early is the patch; reaching js-yamux's own
  // code fails on the missing stream internals, which shows the update would have been sent.
  const update = (o: object): void => { (YamuxStream.prototype as unknown as { sendWindowUpdate: (this: object) => void }).sendWindowUpdate.call(o) }

  it('an established stream sends no update until half of its receive window is consumed', () => {
    assert.doesNotThrow(() => { update({ state: StreamState.Established, recvWindow: 262_144, recvWindowCapacity: 262_144 - 200 }) })
    assert.doesNotThrow(() => { update({ state: StreamState.Established, recvWindow: 262_144, recvWindowCapacity: 131_073 }) })
    assert.throws(() => { update({ state: StreamState.Established, recvWindow: 262_144, recvWindowCapacity: 131_072 }) }, TypeError)
  })

  it('opening streams (SYN/ACK) always send theirs', () => {
    for (const state of [StreamState.Init, StreamState.SYNReceived]) {
      assert.throws(() => { update({ state, recvWindow: 262_144, recvWindowCapacity: 262_144 }) }, TypeError)
    }
  })
})
