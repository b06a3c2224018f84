/**
 * The underlay MTU read without a process (the agent's own namespace: os.networkInterfaces and
 * /sys/class/net) gives what iproute2 says, for every address of this namespace; an address no
 * interface holds gives undefined.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'

interface Link { ifname: string, mtu: number, addr_info?: Array<{ local?: string }> }

describe('underlay MTU of the agent\'s own namespace', () => {
  it('matches `ip -json addr show` for every address here', async () => {
    const links = JSON.parse(execFileSync('ip', ['-json', 'addr', 'show']).toString()) as Link[]
    const dp = new LinuxDataplane()
    let checked = 0
    for (const l of links) {
      for (const a of l.addr_info ?? []) {
        if (a.local === undefined || !/^\d+\.\d+\.\d+\.\d+$/.test(a.local)) continue
        assert.equal(await dp.underlayMtu(a.local), l.mtu, `${a.local} on ${l.ifname}`)
        checked++
      }
    }
    assert.ok(checked > 0, 'no IPv4 address to check')
    assert.equal(await dp.underlayMtu('192.0.2.254'), undefined)
  })
})
