/**
 * The chaos firewall on real namespaces (root): a 2-host lab without agents. A gossip cut stops
 * TCP on the gossip port and nothing else, an isolation stops everything, healing restores it,
 * and removing the chain leaves the hosts' firewalls as they were.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { applyCut, CHAIN, installChain, listRules, removeChain, removeCut } from '../../deploy/chaos/firewall.js'
import type { ChaosTarget, ExecOptions } from '../../deploy/chaos/target.js'
import { exec, spawnIn } from '../../deploy/lab/netns.js'
import { createLab, destroyLab, type Lab } from '../../deploy/lab/topology.js'

/** Just enough of a target for the firewall: hosts and exec. */
function labExecTarget (lab: Lab): ChaosTarget {
  return {
    hosts: lab.hosts.map((h, i) => ({ index: i, label: h.name, ip: h.ip })),
    exec: async (i: number, argv: readonly string[], o: ExecOptions = {}) => await exec('nsenter', [`--net=/run/netns/${o.netns ?? lab.hosts[i]!.ns}`, '--', ...argv], o.input)
  } as unknown as ChaosTarget
}

const SERVER = 'require("net").createServer(s => s.end("hi")).listen(Number(process.argv[1]), process.argv[2], () => console.log("up"))'
const CLIENT = 'const s = require("net").connect(Number(process.argv[1]), process.argv[2]); s.setTimeout(1000, () => process.exit(2)); s.on("data", () => process.exit(0)); s.on("error", () => process.exit(1))'

describe('chaos firewall on real namespaces (root)', function () {
  this.timeout(60_000)
  const prefix = `cf${randomBytes(3).toString('hex')}`
  let lab: Lab | undefined
  const servers: Array<ReturnType<typeof spawn>> = []

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    lab = await createLab({ hosts: 2, prefix })
  })
  after(async () => {
    for (const s of servers) s.kill('SIGKILL')
    await destroyLab(prefix)
  })

  const tcp = async (port: number): Promise<boolean> =>
    (await exec('nsenter', [`--net=/run/netns/${lab!.hosts[0]!.ns}`, '--', process.execPath, '-e', CLIENT, String(port), lab!.hosts[1]!.ip])).code === 0
  const ping = async (): Promise<boolean> =>
    (await exec('nsenter', [`--net=/run/netns/${lab!.hosts[0]!.ns}`, '--', 'ping', '-c', '1', '-W', '1', lab!.hosts[1]!.ip])).code === 0

  it('cuts the gossip port only, isolates entirely, heals exactly, and removes its chain', async () => {
    const t = labExecTarget(lab!)
    for (const port of [7946, 7999]) {
      const s = spawnIn(lab!.hosts[1]!.ns, process.execPath, ['-e', SERVER, String(port), lab!.hosts[1]!.ip], { stdio: ['ignore', 'pipe', 'inherit'] })
      servers.push(s)
      await new Promise<void>(resolve => s.stdout!.once('data', () => { resolve() }))
    }
    const before = (await t.exec(0, ['iptables', '-w', '-S'])).stdout
    await installChain(t, 0)
    await installChain(t, 0) // idempotent
    await installChain(t, 1)
    assert.ok(await tcp(7946) && await tcp(7999) && await ping())

    const gossip = await applyCut(t, { kind: 'gossip', port: 7946 }, [0], [1], 'g1')
    assert.equal(await tcp(7946), false, 'gossip port cut')
    assert.ok(await tcp(7999), 'another port still works')
    assert.ok(await ping(), 'ICMP still works')
    assert.equal((await listRules(t, 0)).length, 2)
    assert.equal((await listRules(t, 1)).length, 2, 'symmetric: the peer drops too')

    const iso = await applyCut(t, { kind: 'isolate' }, [0], [1], 'i1')
    assert.equal(await ping(), false)
    await removeCut(t, iso)
    assert.ok(await ping())
    assert.equal(await tcp(7946), false, 'healing one cut leaves the other in force')
    await removeCut(t, gossip)
    assert.ok(await tcp(7946))
    assert.deepEqual(await listRules(t, 0), [])

    await applyCut(t, { kind: 'loss', probability: 0.5 }, [0], [1], 'l1')
    assert.match((await listRules(t, 0)).join('\n'), /statistic --mode random --probability 0\.5/)
    await removeChain(t, 0)
    await removeChain(t, 0) // idempotent
    assert.equal((await t.exec(0, ['iptables', '-w', '-S'])).stdout, before, `no ${CHAIN} chain or jump left`)
  })
})
