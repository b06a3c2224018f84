/**
 * The chaos kit's pure parts: the seeded schedule (replayable, prefix-stable, covering), the
 * model's bookkeeping, the ssh target's hosts file and quoting, the kernel table parser, the
 * firewall rules. No root, no processes but `sh`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { rulesFor } from '../../deploy/chaos/firewall.js'
import { avoidance } from '../../deploy/chaos/known-bugs.js'
import { ClusterModel } from '../../deploy/chaos/model.js'
import { parseSandboxDump } from '../../deploy/chaos/observe.js'
import { stat } from '../../deploy/chaos/report.js'
import { Rng } from '../../deploy/chaos/rng.js'
import { AGENT_FAULTS, FAULT_KINDS, formatSchedule, makeSchedule } from '../../deploy/chaos/schedule.js'
import { parseHostsFile, shellQuote, SshTarget } from '../../deploy/chaos/ssh-target.js'

const run = promisify(execFile)

describe('chaos kit: schedule', () => {
  it('the same seed gives the same schedule; another seed another one', () => {
    const a = makeSchedule({ seed: 's1', rounds: 30, hosts: 5, holdMs: 1000 })
    assert.deepEqual(makeSchedule({ seed: 's1', rounds: 30, hosts: 5, holdMs: 1000 }), a)
    assert.notDeepEqual(makeSchedule({ seed: 's2', rounds: 30, hosts: 5, holdMs: 1000 }), a)
  })

  it('a short schedule is the prefix of a long one (a failed round replays with --rounds N)', () => {
    const long = makeSchedule({ seed: 'x', rounds: 40, hosts: 5, holdMs: 1000 })
    for (const n of [1, 3, 7, 12]) assert.deepEqual(makeSchedule({ seed: 'x', rounds: n, hosts: 5, holdMs: 1000 }), long.slice(0, n))
  })

  it('the first rounds cover every fault kind; partitions split all hosts into two non-empty sides', () => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      const s = makeSchedule({ seed, rounds: 50, hosts: 5, holdMs: 1000 })
      assert.deepEqual(new Set(s.slice(0, FAULT_KINDS.length).map(f => f.kind)), new Set(FAULT_KINDS))
      for (const f of s) {
        assert.deepEqual([...f.hosts, ...f.others].sort(), [0, 1, 2, 3, 4])
        assert.ok(f.hosts.length >= 1 && f.others.length >= 1)
        if (f.kind.startsWith('partition')) assert.ok(f.hosts.length <= 2, 'side A is at most half')
        else assert.equal(f.hosts.length, 1)
        if (f.kind === 'loss') assert.ok(f.lossProbability! > 0 && f.lossProbability! < 1)
      }
    }
  })

  it('spared hosts are never killed, stopped or taken down, but still partitioned', () => {
    const s = makeSchedule({ seed: 'spare', rounds: 200, hosts: 3, holdMs: 1000, spare: [0] })
    assert.ok(s.filter(f => AGENT_FAULTS.includes(f.kind)).every(f => f.hosts[0] !== 0))
    assert.ok(s.some(f => f.kind.startsWith('partition') && f.hosts.includes(0)))
    assert.throws(() => makeSchedule({ seed: 'x', rounds: 10, hosts: 2, holdMs: 1, spare: [0, 1], kinds: ['kill9'] }), /every host is spared/)
    const n = makeSchedule({ seed: 'stop', rounds: 200, hosts: 3, holdMs: 1000, neverStopped: [0] })
    assert.ok(n.filter(f => f.kind === 'stop-start').every(f => f.hosts[0] !== 0))
    assert.ok(n.some(f => f.kind === 'kill9' && f.hosts[0] === 0), 'a host never stopped may still be killed')
  })

  it('only the kinds asked for; readable with host labels', () => {
    const s = makeSchedule({ seed: 'k', rounds: 6, hosts: 4, holdMs: 2000, kinds: ['loss', 'kill9'] })
    assert.ok(s.every(f => f.kind === 'loss' || f.kind === 'kill9'))
    assert.match(formatSchedule(s, i => `h${i + 1}`), /^round {3}1 {2}(loss|kill9)/)
  })

  it('the generator is roughly uniform and forks are independent streams', () => {
    const r = new Rng('u')
    const counts = [0, 0, 0, 0]
    for (let i = 0; i < 4000; i++) counts[r.int(0, 3)]!++
    for (const c of counts) assert.ok(c > 850 && c < 1150, `bucket ${c}`)
    assert.notEqual(new Rng('u').fork('a').next(), new Rng('u').fork('b').next())
    assert.equal(new Rng('u').fork('a').next(), new Rng('u').fork('a').next())
  })
})

describe('chaos kit: model', () => {
  const attach = (m: ClusterModel, name: string, network: string, ip: string): void => {
    const c = m.containers.find(x => x.name === name) ?? { host: 0, name, netns: name }
    if (!m.containers.includes(c)) m.containers.push(c)
    m.recordAttach(c, network, { EndpointID: `${name}-eid`, IPv4Address: `${ip}/24`, MacAddress: '02:42:00:00:00:01' })
  }

  it('flags an address handed out twice, outside the subnet or equal to the gateway; overlapping pools', () => {
    const m = new ClusterModel()
    m.addNetwork({ name: 'n', id: 'i1', subnet: '10.0.0.0/24', gateway: '10.0.0.1' })
    attach(m, 'c1', 'n', '10.0.0.2')
    attach(m, 'c2', 'n', '10.0.0.2')
    attach(m, 'c3', 'n', '10.9.0.2')
    attach(m, 'c4', 'n', '10.0.0.1')
    m.addNetwork({ name: 'o', id: 'i2', subnet: '10.0.0.128/25', gateway: '10.0.0.129' })
    assert.deepEqual(m.violations.map(v => v.invariant), ['addresses', 'addresses', 'addresses', 'pools'])
    // a detached holder frees its address
    const n = new ClusterModel()
    n.addNetwork({ name: 'n', id: 'i1', subnet: '10.0.0.0/24', gateway: '10.0.0.1' })
    attach(n, 'c1', 'n', '10.0.0.2')
    n.recordDetach(n.containers[0]!)
    attach(n, 'c2', 'n', '10.0.0.2')
    assert.deepEqual(n.violations, [])
  })

  it('reconciles with a host\'s own endpoints: unexplained differences are reported, uncertain ones settled', () => {
    const m = new ClusterModel()
    m.addNetwork({ name: 'n', id: 'i1', subnet: '10.0.0.0/24', gateway: '10.0.0.1' })
    attach(m, 'c1', 'n', '10.0.0.2')
    attach(m, 'c2', 'n', '10.0.0.3')
    m.containers[1]!.uncertain = true
    const truth = new Map([['n', { Name: 'n', Containers: { 'c2-eid': { Name: 'c2', EndpointID: 'c2-eid', MacAddress: '02:42:00:00:00:01', IPv4Address: '10.0.0.3/24', IPv6Address: '' } } }]]) as never
    const problems = m.reconcile(0, truth)
    assert.equal(problems.length, 1)
    assert.match(problems[0]!, /c1: attached to n \(10\.0\.0\.2\) but its host has no such endpoint/)
    assert.equal(m.containers[0]!.network, undefined)
    assert.equal(m.containers[1]!.uncertain, false)
  })

  it('reconciles networks: a resurrected network and a vanished one are reported', () => {
    const m = new ClusterModel()
    m.addNetwork({ name: 'keep', id: 'k', subnet: '10.1.0.0/24', gateway: '' })
    m.addNetwork({ name: 'gone', id: 'g', subnet: '10.2.0.0/24', gateway: '' })
    const p = m.reconcileNetworks([{ name: 'keep', id: 'k', subnet: '10.1.0.0/24', gateway: '' }, { name: 'back', id: 'b', subnet: '10.3.0.0/24', gateway: '' }])
    assert.deepEqual(p, ['network back (10.3.0.0/24) exists but the run never created it', 'network gone created by the run is gone'])
    m.uncertainNetworks.add('maybe')
    assert.deepEqual(m.reconcileNetworks([{ name: 'keep', id: 'k', subnet: '10.1.0.0/24', gateway: '' }, { name: 'back', id: 'b', subnet: '10.3.0.0/24', gateway: '' }, { name: 'maybe', id: 'm', subnet: '10.4.0.0/24', gateway: '' }]), [])
  })
})

describe('chaos kit: ssh target helpers', () => {
  it('parses a hosts file and rejects what would go wrong later', () => {
    const hosts = parseHostsFile('# name dest ip [socket]\novnet-1 vagrant@192.168.56.11 192.168.56.11\n\novnet-2 ovnet-2 192.168.56.12 /run/x.sock # the second\n')
    assert.deepEqual(hosts, [
      { name: 'ovnet-1', dest: 'vagrant@192.168.56.11', ip: '192.168.56.11', socket: '/run/ovnet/ovnet.sock' },
      { name: 'ovnet-2', dest: 'ovnet-2', ip: '192.168.56.12', socket: '/run/x.sock' }
    ])
    assert.throws(() => parseHostsFile('a b 1.2.3.4\n'), /at least 2 hosts/)
    assert.throws(() => parseHostsFile('a b 1.2.3.4\na c 1.2.3.5\n'), /listed twice/)
    assert.throws(() => parseHostsFile('a -oProxyCommand=x 1.2.3.4\nb c 1.2.3.5\n'), /cannot start with "-"/)
    assert.throws(() => parseHostsFile('a b 1.2.3\nb c 1.2.3.5\n'), /line 1: "1.2.3" is not an IPv4 address/)
    assert.throws(() => parseHostsFile('a b 1.2.3.4 rel.sock\nb c 1.2.3.5\n'), /absolute path/)
  })

  it('quotes every argument so that the remote shell sees it verbatim', async () => {
    const args = ['plain', 'with space', "it's", '$(echo pwned)', '"dq"', 'a;b|c&d', '', '*']
    const { stdout } = await run('sh', ['-c', `printf '%s\\n' ${shellQuote(args)}`])
    assert.deepEqual(stdout.split('\n').slice(0, -1), args)
  })

  it('builds the remote command with sudo and namespace entry', () => {
    const t = new SshTarget(parseHostsFile('a a 10.0.0.1\nb b 10.0.0.2\n'), { sudo: true })
    assert.equal(t.remoteCommand(['ping', '-c', '1', '10.1.0.2'], 'ovchaos-c1'), 'sudo -n ip netns exec ovchaos-c1 ping -c 1 10.1.0.2')
    assert.equal(new SshTarget(parseHostsFile('a a 10.0.0.1\nb b 10.0.0.2\n')).remoteCommand(['sh', '-c', 'echo $X']), "sh -c 'echo $X'")
  })
})

describe('chaos kit: kernel tables, firewall rules, reports, known bugs', () => {
  it('parses the per-sandbox dump: only the vxlan device\'s remote entries and unicast neighbours', () => {
    const out = [
      '### ovnet-chaos ovnet-n1-aaaaaaaaaaaa fdb',
      JSON.stringify([
        { mac: '02:42:0a:00:00:02', dst: '198.18.0.12', flags: ['self'], state: 'permanent' },
        { mac: '02:42:0a:00:00:03', dst: '198.18.0.13', flags: ['self'], state: '' },
        { mac: 'aa:bb:cc:dd:ee:ff', master: 'br0', state: '' },
        { mac: '00:00:00:00:00:00', dst: '198.18.0.14', flags: ['self'], state: 'permanent' }
      ]),
      '### ovnet-chaos ovnet-n1-aaaaaaaaaaaa neigh',
      JSON.stringify([{ dst: '10.0.0.2', lladdr: '02:42:0a:00:00:02', state: ['PERMANENT'] }, { dst: 'ff02::1', lladdr: '33:33:00:00:00:01', state: ['NOARP'] }]),
      '### ovnet-chaos ovnet-n1-bbbbbbbbbbbb fdb',
      'Cannot find device "vxlan0"',
      '### ovnet-chaos ovnet-n1-bbbbbbbbbbbb neigh',
      ''
    ].join('\n')
    const v = parseSandboxDump(out)
    assert.deepEqual(v['ovnet-n1-aaaaaaaaaaaa'], {
      fdb: [{ mac: '02:42:0a:00:00:02', dst: '198.18.0.12', permanent: true }, { mac: '02:42:0a:00:00:03', dst: '198.18.0.13', permanent: false }],
      neigh: [{ ip: '10.0.0.2', mac: '02:42:0a:00:00:02', permanent: true }]
    })
    assert.match(v['ovnet-n1-bbbbbbbbbbbb']!.error!, /Cannot find device/)
  })

  it('cuts by peer address: gossip both ports, VXLAN by destination port, loss with statistic, isolation', () => {
    const tail = ['-m', 'comment', '--comment', 'ovchaos:r1', '-j', 'DROP']
    assert.deepEqual(rulesFor({ kind: 'gossip', port: 7946 }, '10.0.0.2', 'r1'), [
      ['-s', '10.0.0.2', '-p', 'tcp', '-m', 'multiport', '--ports', '7946', ...tail],
      ['-d', '10.0.0.2', '-p', 'tcp', '-m', 'multiport', '--ports', '7946', ...tail]
    ])
    assert.deepEqual(rulesFor({ kind: 'vxlan', port: 4789 }, '10.0.0.2', 'r1')[0], ['-s', '10.0.0.2', '-p', 'udp', '--dport', '4789', ...tail])
    assert.deepEqual(rulesFor({ kind: 'loss', probability: 0.2 }, '10.0.0.2', 'r1')[1], ['-d', '10.0.0.2', '-m', 'statistic', '--mode', 'random', '--probability', '0.2', ...tail])
    assert.deepEqual(rulesFor({ kind: 'isolate' }, '10.0.0.2', 'r1')[0], ['-s', '10.0.0.2', ...tail])
    assert.throws(() => rulesFor({ kind: 'isolate' }, '10.0.0.0/8', 'r1'), /not an IPv4 address/)
    assert.throws(() => rulesFor({ kind: 'loss', probability: 1 }, '10.0.0.2', 'r1'), /probability/)
  })

  it('p50 and max over the rounds that measured something', () => {
    assert.deepEqual(stat([300, undefined, 100, 200, 900]), { n: 4, p50: 200, max: 900 })
    assert.deepEqual(stat([undefined]), { n: 0, p50: null, max: null })
  })

  it('avoiding no bug changes nothing', () => {
    assert.deepEqual(avoidance([]), { neverStopped: [], noRemoveDuringCuts: false, createOn: undefined, excludeKinds: [] })
  })
})
