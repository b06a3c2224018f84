/**
 * The egress firewall and port parsing: the pure parts (rules, restore batches, publish specs,
 * clashes), then the batches against real iptables in a namespace of the test's own (root):
 * a second apply writes nothing, duplicated jumps are cut to one, the host's rules keep their
 * place, and removal leaves the tables as they were.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { BadRequestError } from '../../agent/errors.js'
import {
  CHAIN_FWD, checkClashes, chainRules, parsePublish, parseSave, PortTakenError, reconcileFirewall, restoreBatch,
  type FirewallSpec, type IptablesRunner
} from '../../agent/egress/index.js'
import { addNetns, delNetns, exec } from '../../deploy/lab/index.js'

const spec: FirewallSpec = {
  overlaySubnets: ['10.2.0.0/24', '10.1.0.0/24'],
  networks: [{ subnet: '10.1.0.0/24', ports: [{ hostIp: '0.0.0.0', hostPort: 8080, ctrPort: 80, proto: 'tcp', ctrIp: '10.1.0.5' }] }]
}

describe('egress: publish specs', () => {
  it('parses [HOSTIP:]HOSTPORT:CTRPORT[/tcp|/udp]', () => {
    assert.deepEqual(parsePublish('8080:80'), { hostIp: '0.0.0.0', hostPort: 8080, ctrPort: 80, proto: 'tcp' })
    assert.deepEqual(parsePublish('192.0.2.1:53:5353/udp'), { hostIp: '192.0.2.1', hostPort: 53, ctrPort: 5353, proto: 'udp' })
  })
  it('refuses bad specs with the spec in the message', () => {
    for (const [bad, re] of [['65536:80', /out of range/], ['0:80', /out of range/], ['80', /HOSTPORT:CTRPORT/], ['a:80', /invalid port/],
      ['1.2.3:80:80', /host IP/], ['300.1.1.1:80:80', /host IP/], ['80:80/sctp', /protocol/], ['1:2:3:4', /HOSTPORT/]] as const) {
      assert.throws(() => parsePublish(bad), (e: unknown) => e instanceof BadRequestError && re.test(e.message) && e.message.includes(bad), bad)
    }
  })
  it('clashes: same protocol and port on the same or a wildcard address', () => {
    const p = (s: string): ReturnType<typeof parsePublish> => parsePublish(s)
    assert.throws(() => { checkClashes([p('8080:80')], [p('192.0.2.1:8080:81')]) }, PortTakenError)
    assert.throws(() => { checkClashes([p('8080:80'), p('8080:81')], []) }, PortTakenError)
    checkClashes([p('8080:80/udp'), p('192.0.2.1:8081:80')], [p('8080:80'), p('192.0.2.2:8081:80')])
  })
})

describe('egress: restore batches', () => {
  const savedOf = (extraJumps = 0): string => {
    const r = chainRules(spec)
    const jumps = (t: string): string[] => t === 'filter' ? ['-A FORWARD -j OVNET-FWD'] : ['-A PREROUTING -m addrtype --dst-type LOCAL -j OVNET-DNAT', '-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j OVNET-DNAT', '-A POSTROUTING -j OVNET-POST']
    const fwd = Array.from({ length: extraJumps + 1 }, () => '-A FORWARD -j OVNET-FWD')
    return ['*filter', ':FORWARD ACCEPT [0:0]', ':OVNET-FWD - [0:0]', ...fwd, ...r.filter, 'COMMIT',
      '*nat', ':OVNET-POST - [0:0]', ':OVNET-DNAT - [0:0]', ...jumps('nat'), ...r.nat, 'COMMIT'].join('\n')
  }
  it('from nothing: chains declared and filled, every jump inserted first, once', () => {
    const b = restoreBatch(parseSave(''), spec)
    assert.equal(b.split('\n').filter(l => l === `-I FORWARD 1 -j ${CHAIN_FWD}`).length, 1)
    assert.match(b, /-A OVNET-POST -s 10\.1\.0\.0\/24 ! -o ovu\+ -j MASQUERADE/)
    assert.match(b, /-A OVNET-DNAT -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10\.1\.0\.5:80/)
    assert.match(b, /-A OVNET-FWD -d 10\.1\.0\.0\/24 -i ovu\+ -j DROP\n-A OVNET-FWD -d 10\.2\.0\.0\/24 -i ovu\+ -j DROP/)
    assert.equal(b.split('\n').filter(l => l.startsWith('-I ')).length, 4)
  })
  it('nothing to do when the kernel holds exactly the desired rules', () => {
    assert.equal(restoreBatch(parseSave(savedOf()), spec), '')
  })
  it('stray copies of a jump are deleted down to one', () => {
    const b = restoreBatch(parseSave(savedOf(2)), spec)
    assert.equal(b, `*filter\n-D FORWARD -j ${CHAIN_FWD}\n-D FORWARD -j ${CHAIN_FWD}\nCOMMIT\n`)
  })
  it('removal: jumps deleted, our chains flushed and deleted, nothing else named', () => {
    const b = restoreBatch(parseSave(savedOf()), undefined)
    assert.doesNotMatch(b, /^-[AI] /m)
    assert.match(b, /-F OVNET-FWD\n-X OVNET-FWD/)
    assert.equal(b.split('\n').filter(l => l.startsWith('-D ')).length, 4)
    assert.equal(restoreBatch(parseSave(''), undefined), '')
  })
})

describe('egress: the batches against real iptables in a namespace of the test\'s own (root)', function () {
  this.timeout(60_000)
  const ns = `egf${randomBytes(3).toString('hex')}`
  const inNs = async (argv: string[], input?: string): Promise<string> => {
    const r = await exec('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], input)
    if (r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`)
    return r.stdout
  }
  const ipt: IptablesRunner = {
    save: async t => await inNs(['iptables-save', '-t', t]),
    restore: async b => { await inNs(['iptables-restore', '-w', '5', '--noflush'], b) }
  }
  const rules = async (): Promise<string[]> => (await inNs(['iptables-save'])).split('\n').filter(l => l.startsWith('-A') || (l.startsWith(':') && !/^:[A-Z]+ ACCEPT/.test(l)))

  before(async () => { await addNetns(ns) })
  after(async () => { await delNetns(ns) })

  it('applies once, then writes nothing; keeps the host\'s rules in order; dedupes jumps; removes cleanly', async () => {
    await inNs(['sh', '-c', 'iptables -w -A FORWARD -m comment --comment host-a -j ACCEPT && iptables -w -A FORWARD -m comment --comment host-b -j DROP && iptables -w -t nat -A POSTROUTING -m comment --comment host-c -j RETURN'])
    const host = await rules()
    assert.notEqual(await reconcileFirewall(ipt, spec), '')
    assert.equal(await reconcileFirewall(ipt, spec), '', 'the kernel prints our rules back exactly as we write them')
    const applied = await rules()
    assert.deepEqual(applied.filter(l => !l.includes('OVNET')), host, 'the host\'s rules, in their order')
    assert.equal(applied.filter(l => l === '-A FORWARD -j OVNET-FWD').length, 1)
    // a second copy of a jump (as a crashed older run could leave) is cut back to one
    await inNs(['iptables', '-w', '-I', 'FORWARD', '2', '-j', CHAIN_FWD])
    assert.match(await reconcileFirewall(ipt, spec), /-D FORWARD -j OVNET-FWD/)
    assert.deepEqual(await rules(), applied)
    // a different view rewrites the chains in place
    await reconcileFirewall(ipt, { ...spec, networks: [] })
    assert.ok(!(await rules()).some(l => l.includes('MASQUERADE')))
    await reconcileFirewall(ipt, undefined)
    assert.deepEqual(await rules(), host, 'nothing of ours left, the host\'s rules untouched')
    assert.equal(await reconcileFirewall(ipt, undefined), '')
  })
})
