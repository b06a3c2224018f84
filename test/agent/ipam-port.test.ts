/**
 * The agent's IPAM port asks a dynamic address once more when the IPAM could not decide (a busy
 * donor; test/ipam/busy-donor.test.ts shows the grant landing meanwhile), and only then.
 */
import assert from 'node:assert/strict'
import { requestAddressOnceMore } from '../../agent/ipam-port.js'
import { ErrIpamUnavailable, ErrNoAvailableIPs, type AllocatedAddress } from '../../ipam/index.js'

function fake (...outcomes: Array<Error | string>): { requestAddress: () => Promise<AllocatedAddress>, calls: number } {
  const f = {
    calls: 0,
    requestAddress: async (): Promise<AllocatedAddress> => {
      const o = outcomes[f.calls++]
      if (o === undefined) throw new Error('asked too often')
      if (o instanceof Error) throw o
      return { address: o, data: {} } as unknown as AllocatedAddress
    }
  }
  return f
}

describe('agent IPAM port: a dynamic address asked once more when the IPAM cannot decide', () => {
  it('an undecided first ask, then the address', async () => {
    const f = fake(new ErrIpamUnavailable('no answer from node-00: retry'), '10.0.0.7/24')
    assert.equal((await requestAddressOnceMore(f, 'pool', undefined, {})).address, '10.0.0.7/24')
    assert.equal(f.calls, 2)
  })
  it('two undecided asks: the second error is the answer', async () => {
    const f = fake(new ErrIpamUnavailable('first'), new ErrIpamUnavailable('second'))
    await assert.rejects(requestAddressOnceMore(f, 'pool', undefined, {}), /second/)
    assert.equal(f.calls, 2)
  })
  it('no retry for another error, nor for an address asked by value', async () => {
    const full = fake(new ErrNoAvailableIPs())
    await assert.rejects(requestAddressOnceMore(full, 'pool', undefined, {}), ErrNoAvailableIPs)
    assert.equal(full.calls, 1)
    const byValue = fake(new ErrIpamUnavailable('busy'))
    await assert.rejects(requestAddressOnceMore(byValue, 'pool', '10.0.0.9', {}), ErrIpamUnavailable)
    assert.equal(byValue.calls, 1)
  })
})
