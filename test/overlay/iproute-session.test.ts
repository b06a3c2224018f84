/**
 * The long-lived iproute2 processes of the hot path (overlay/iproute-session.ts), on real
 * namespaces (root): one process serves many batches, failures are attributed to the lines of
 * their own batch, a tool that exits mid-batch (ip neigh) ends that batch only, a namespace or a
 * device made anew under the same name is programmed (not the dead one), a wedged tool is killed,
 * and ending the sessions leaves no process behind.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Iproute } from '../../overlay/iproute.js'

const run = promisify(execFile)
const NS = `ots${randomBytes(3).toString('hex')}`
const VNI = 7000 + Math.floor(Math.random() * 1000)

async function sh (...argv: string[]): Promise<string> {
  return (await run(argv[0]!, argv.slice(1))).stdout
}
const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false
  try { process.kill(pid, 0); return true } catch { return false }
}
const neigh = (ip: string, mac: string): string => `neigh replace ${ip} lladdr ${mac} dev vxlan0 nud permanent`
const fdb = (mac: string, dst: string): string => `fdb replace ${mac} dev vxlan0 dst ${dst} self permanent`

async function makeNamespace (): Promise<void> {
  await sh('ip', 'netns', 'add', NS)
  await sh('ip', '-n', NS, 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', String(VNI), 'dstport', '4789', 'local',
    '127.0.0.1', 'nolearning')
}
async function removeNamespace (): Promise<void> {
  await run('ip', ['netns', 'del', NS]).catch(() => {})
}

describe('iproute2 sessions: long-lived batch processes of the hot path (real namespaces)', function () {
  this.timeout(30_000)
  let ipr: Iproute
  beforeEach(async () => {
    await removeNamespace()
    await makeNamespace()
    ipr = new Iproute({ persistent: true, timeoutMs: 3000 })
  })
  afterEach(async () => {
    ipr.endAllSessions()
    await removeNamespace()
  })

  it('one process serves many batches; failures belong to the lines of their own batch', async () => {
    const a = await ipr.batch('ip', NS, [neigh('10.1.0.2', '02:00:00:00:01:02')], { hot: true })
    assert.deepEqual([a.aborted, a.failures], [false, []])
    const pid = ipr.sessionPid('ip', NS)
    assert.ok(alive(pid))
    const b = await ipr.batch('ip', NS, [
      neigh('10.1.0.3', '02:00:00:00:01:03'), 'link set vxlan0 mtu 70000',
      neigh('10.1.0.5', '02:00:00:00:01:05')
    ], { hot: true })
    assert.equal(b.aborted, false)
    assert.deepEqual(b.failures.map(f => f.line), [2])
    assert.match(b.failures[0]!.message, /mtu/i)
    assert.equal(ipr.sessionPid('ip', NS), pid, 'the same process')
    const shown = await sh('ip', '-n', NS, 'neigh', 'show', 'dev', 'vxlan0')
    for (const ip of ['10.1.0.2', '10.1.0.3', '10.1.0.5']) assert.match(shown, new RegExp(`${ip.replaceAll('.', '\\.')} `))
    const f = await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:02', '127.0.0.2'), fdb('02:00:00:00:01:03', '127.0.0.3')],
      { hot: true })
    assert.deepEqual([f.aborted, f.failures], [false, []])
    assert.match(await sh('bridge', '-n', NS, 'fdb', 'show', 'dev', 'vxlan0'), /02:00:00:00:01:03 dst 127\.0\.0\.3 self permanent/)
  })

  it('ip neigh exiting on an error aborts that batch only; the next batch gets a new process', async () => {
    await ipr.batch('ip', NS, [neigh('10.1.0.2', '02:00:00:00:01:02')], { hot: true })
    const pid = ipr.sessionPid('ip', NS)
    const r = await ipr.batch('ip', NS, ['neigh del 10.9.9.9 dev vxlan0', neigh('10.1.0.7', '02:00:00:00:01:07')],
      { hot: true })
    assert.equal(r.aborted, true)
    const again = await ipr.batch('ip', NS, [neigh('10.1.0.7', '02:00:00:00:01:07')], { hot: true })
    assert.deepEqual([again.aborted, again.failures], [false, []])
    assert.notEqual(ipr.sessionPid('ip', NS), pid)
    assert.match(await sh('ip', '-n', NS, 'neigh', 'show', 'dev', 'vxlan0'), /10\.1\.0\.7 /)
  })

  it('a namespace made anew under the same name is the one programmed, and the old process goes', async () => {
    await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:02', '127.0.0.2')], { hot: true })
    const pid = ipr.sessionPid('bridge', NS)
    await removeNamespace()
    await makeNamespace()
    const r = await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:09', '127.0.0.9')], { hot: true })
    assert.deepEqual([r.aborted, r.failures], [false, []])
    assert.match(await sh('bridge', '-n', NS, 'fdb', 'show', 'dev', 'vxlan0'), /02:00:00:00:01:09 dst 127\.0\.0\.9/)
    assert.equal(alive(pid), false, 'the process in the dead namespace ended')
  })

  it('a device deleted and made anew under the same name (iproute2 caches its index) is programmed', async () => {
    await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:02', '127.0.0.2')], { hot: true })
    await ipr.batch('ip', NS, [neigh('10.1.0.2', '02:00:00:00:01:02')], { hot: true })
    await sh('ip', '-n', NS, 'link', 'del', 'vxlan0')
    await sh('ip', '-n', NS, 'link', 'add', 'vxlan0', 'type', 'vxlan', 'id', String(VNI), 'dstport', '4789', 'local', '127.0.0.1')
    const f = await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:0a', '127.0.0.10')], { hot: true })
    const n = await ipr.batch('ip', NS, [neigh('10.1.0.10', '02:00:00:00:01:0a')], { hot: true })
    assert.deepEqual([f.aborted, f.failures, n.aborted, n.failures], [false, [], false, []])
    assert.match(await sh('bridge', '-n', NS, 'fdb', 'show', 'dev', 'vxlan0'), /02:00:00:00:01:0a dst 127\.0\.0\.10/)
    assert.match(await sh('ip', '-n', NS, 'neigh', 'show', 'dev', 'vxlan0'), /10\.1\.0\.10 /)
  })

  it('a missing namespace fails the batch as iproute2 says it; endSessions leaves no process', async () => {
    const none = await ipr.batch('ip', `${NS}-none`, [neigh('10.1.0.2', '02:00:00:00:01:02')], { hot: true })
    assert.equal(none.aborted, true)
    assert.match(none.stderr, /Cannot open network namespace/)
    await ipr.batch('ip', NS, [neigh('10.1.0.2', '02:00:00:00:01:02')], { hot: true })
    await ipr.batch('bridge', NS, [fdb('02:00:00:00:01:02', '127.0.0.2')], { hot: true })
    const pids = [ipr.sessionPid('ip', NS), ipr.sessionPid('bridge', NS)]
    assert.ok(pids.every(alive))
    ipr.endSessions(NS)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.deepEqual(pids.map(alive), [false, false])
    assert.equal(ipr.sessionPid('ip', NS), undefined)
  })

  it('a tool that never answers is killed after the timeout; the next batch starts a new one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ots-'))
    try {
      const tool = join(dir, 'ip')
      writeFileSync(tool, '#!/bin/sh\nexec sleep 60\n')
      chmodSync(tool, 0o755)
      const slow = new Iproute({ persistent: true, timeoutMs: 300, ip: tool })
      const r = await slow.batch('ip', NS, ['link set lo up'], { hot: true })
      assert.equal(r.aborted, true)
      assert.match(r.stderr, /killed after 300 ms/)
      const pid = slow.sessionPid('ip', NS)
      assert.equal(pid, undefined)
      slow.endAllSessions()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
