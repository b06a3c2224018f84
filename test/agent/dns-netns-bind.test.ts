/**
 * Sockets bound inside another network namespace by the short-lived helper (agent/dns/netns-bind.ts),
 * on a namespace of the test's own: they answer there, carry that namespace's inode, and an
 * address the namespace does not have is a clear error. Root only.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { bindInNetns } from '../../agent/dns/index.js'
import { addNetns, delNetns, exec, ipBatch } from '../../deploy/lab/index.js'

describe('binding the resolver\'s sockets inside a namespace (root)', function () {
  this.timeout(60_000)
  const ns = `dnsnb${randomBytes(3).toString('hex')}`

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    await addNetns(ns)
    await ipBatch(ns, ['link set lo up', 'addr add 10.99.7.1/32 dev lo'])
  })
  after(async () => { await delNetns(ns).catch(() => {}) })

  it('UDP and TCP bound in the namespace reach the agent; the inode is the namespace\'s', async () => {
    const s = await bindInNetns(`/run/netns/${ns}`, '10.99.7.1', 53)
    try {
      assert.equal(s.ino, (await stat(`/run/netns/${ns}`)).ino)
      s.udp.on('message', (m, r) => { s.udp.send(Buffer.from(`udp:${m.toString()}`), r.port, r.address) })
      s.tcp.on('connection', c => { c.end('tcp-hello') })
      const udp = await exec('ip', ['netns', 'exec', ns, 'bash', '-c', 'exec 3<>/dev/udp/10.99.7.1/53; printf ping >&3; timeout 2 head -c 8 <&3'])
      assert.equal(udp.stdout, 'udp:ping')
      const tcp = await exec('ip', ['netns', 'exec', ns, 'bash', '-c', 'exec 3<>/dev/tcp/10.99.7.1/53; timeout 2 cat <&3'])
      assert.equal(tcp.stdout, 'tcp-hello')
      // Not in the agent's namespace: nothing there listens on that address.
      assert.doesNotMatch((await exec('ss', ['-tuln'])).stdout, /10\.99\.7\.1:53\b/)
      assert.match((await exec('ip', ['netns', 'exec', ns, 'ss', '-tuln'])).stdout, /10\.99\.7\.1:53\b/)
    } finally {
      s.udp.close()
      s.tcp.close()
    }
  })

  it('an address the namespace lacks fails with a clear error, no process left', async () => {
    await assert.rejects(bindInNetns(`/run/netns/${ns}`, '10.99.7.2', 53), /binding 10\.99\.7\.2:53 in \/run\/netns\/dnsnb[0-9a-f]+: .*EADDRNOTAVAIL|address not available/i)
    await assert.rejects(bindInNetns('/run/netns/does-not-exist-dns', '10.99.7.1', 53), /failed \(exit 1\)/)
  })

  it('a helper whose agent died before the sockets were handed over exits too', async () => {
    const mod = new URL('../../agent/dns/netns-bind.ts', import.meta.url).href
    const pids = async (): Promise<string[]> =>
      (await exec('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(p => p.trim() !== '')
    // the "agent" starts a bind and is gone (killed, or stopped during the bind) before the
    // helper runs, and while it binds
    for (const afterMs of [5, 150]) {
      const agent = `import(${JSON.stringify(mod)}).then(m => { void m.bindInNetns('/run/netns/${ns}', ` +
        `'10.99.7.1', 53).catch(() => {}); setTimeout(() => process.exit(0), ${afterMs}) })`
      await exec(process.execPath, ['--import', 'tsx', '-e', agent])
      const until = Date.now() + 10_000
      let left = await pids()
      while (left.length > 0 && Date.now() < until) {
        await new Promise(resolve => setTimeout(resolve, 100))
        left = await pids()
      }
      const ps = left.length === 0 ? '' : (await exec('ps', ['-o', 'pid,ppid,stat,etime,args', '-p', left.join(',')])).stdout
      for (const pid of left) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
      assert.deepEqual(left, [], `agent gone after ${afterMs} ms: helper processes left in the namespace:\n${ps}`)
    }
  })
})
