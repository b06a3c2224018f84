/**
 * The control API refuses, at the boundary, what other hosts' record decoders would drop and what
 * must never reach a batch line or a path (issue 19 items 8 and 10, issue 16 "audit"): names,
 * options and labels over the decoders' caps or with whitespace/control characters, whole-space and
 * host-bit CIDRs, group MACs, and namespaces other than /run/netns names and other processes'
 * namespaces. The namespace guard is tested against real namespaces (root).
 */
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { AttachRequest, DetachRequest, IpamReclaimRequest, NetworkCreateRequest } from '../../agent/api-types.js'
import { BadRequestError } from '../../agent/errors.js'
import { checkNetnsTarget, netnsSyntaxError } from '../../agent/netns-target.js'
import {
  decodeEndpointRecord, decodeNetworkRecord, encodeEndpointRecord, encodeNetworkRecord, MAX_MAP_ENTRIES, MAX_MAP_KEY,
  MAX_MAP_VALUE, MAX_RECORD_NAME, MAX_VALUE, type NetworkRecord
} from '../../proto/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

function refused (schema: { safeParse: (x: unknown) => { success: boolean, error?: { issues: Array<{ message: string }> } } }, body: unknown, re: RegExp): void {
  const r = schema.safeParse(body)
  assert.equal(r.success, false, `accepted ${JSON.stringify(body).slice(0, 120)}`)
  const text = r.error!.issues.map(i => i.message).join('; ')
  assert.match(text, re)
}
const accepted = (schema: { safeParse: (x: unknown) => { success: boolean } }, body: unknown): void => {
  assert.equal(schema.safeParse(body).success, true, `refused ${JSON.stringify(body).slice(0, 120)}`)
}

const readable = (p: string): boolean => { try { statSync(p); return true } catch { return false } }

const record = (over: Partial<NetworkRecord>): NetworkRecord => ({
  id: 'a'.repeat(64), name: 'n', created: 1, subnet: '10.0.0.0/24', gateway: '', ipRange: '', vni: 5000, internal: false, attachable: true, options: {}, labels: {}, ...over
})

describe('control API limits equal the record decoders\' caps (issue 19 item 10)', () => {
  it('a network name at the cap decodes on every host; one above it is refused by the API', () => {
    const atCap = 'n'.repeat(MAX_RECORD_NAME)
    accepted(NetworkCreateRequest, { Name: atCap })
    assert.equal(decodeNetworkRecord(encodeNetworkRecord(record({ name: atCap }))).name, atCap)
    refused(NetworkCreateRequest, { Name: atCap + 'n' }, /longer than 256/)
    refused(AttachRequest, { Netns: 'c1', Name: 'e'.repeat(MAX_RECORD_NAME + 1) }, /longer than 256/)
  })

  it('options and labels: key and value caps, entry count and total size as the decoder and the table value allow', () => {
    const bigKey = 'k'.repeat(MAX_MAP_KEY)
    const bigValue = 'v'.repeat(MAX_MAP_VALUE)
    accepted(NetworkCreateRequest, { Name: 'x', Options: { [bigKey]: bigValue } })
    assert.deepEqual(decodeNetworkRecord(encodeNetworkRecord(record({ options: { [bigKey]: bigValue } }))).options, { [bigKey]: bigValue })
    refused(NetworkCreateRequest, { Name: 'x', Options: { [bigKey + 'k']: 'v' } }, /invalid key/)
    refused(NetworkCreateRequest, { Name: 'x', Labels: { a: bigValue + 'v' } }, /invalid value of a/)
    const many = Object.fromEntries(Array.from({ length: MAX_MAP_ENTRIES + 1 }, (_, i) => [`k${i}`, 'v']))
    refused(NetworkCreateRequest, { Name: 'x', Labels: many }, /more than 256 entries/)
    // the decoder refuses the same count: a record written by an older API does not half-apply
    assert.throws(() => decodeNetworkRecord(encodeNetworkRecord(record({ labels: many }))), /more than 256 entries/)
    // every accepted request fits a table value: the largest maps the API lets through
    const fat = Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`k${i}`, 'v'.repeat(MAX_MAP_VALUE)]))
    accepted(NetworkCreateRequest, { Name: 'x', Options: fat, Labels: fat })
    assert.ok(encodeNetworkRecord(record({ options: fat, labels: fat })).byteLength <= MAX_VALUE)
    const fatter = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'.repeat(MAX_MAP_VALUE)]))
    refused(NetworkCreateRequest, { Name: 'x', Options: fatter, Labels: fatter }, /exceed 32768 bytes/)
  })

  it('refuses 0.0.0.0/0 and CIDRs with host bits, saying what the prefix should be', () => {
    refused(NetworkCreateRequest, { Name: 'x', Subnet: '0.0.0.0/0' }, /cannot span the whole address space/)
    refused(NetworkCreateRequest, { Name: 'x', Subnet: '10.1.2.3/24' }, /invalid Subnet 10\.1\.2\.3\/24: it should be 10\.1\.2\.0\/24/)
    refused(NetworkCreateRequest, { Name: 'x', Subnet: '10.1.0.0/24', IPRange: '10.1.0.130/25' }, /it should be 10\.1\.0\.128\/25/)
    accepted(NetworkCreateRequest, { Name: 'x', Subnet: '10.1.2.0/24', IPRange: '10.1.2.128/25' })
    accepted(NetworkCreateRequest, { Name: 'x', Subnet: '10.1.2.4/32' })
  })

  it('refuses multicast and broadcast MACs (they failed later, at encoding)', () => {
    refused(AttachRequest, { Netns: 'c1', Aliases: ['ok', '-bad'] }, /invalid alias "-bad"/)
    refused(AttachRequest, { Netns: 'c1', Aliases: ['10.0.0.1'] }, /IPv4 address is no name/)
    refused(AttachRequest, { Netns: 'c1', Aliases: Array(17).fill('a') }, /at most 16 aliases/)
    refused(AttachRequest, { Netns: 'c1', DNS: 'yes' }, /DNS must be a boolean/)
    refused(AttachRequest, { Netns: 'c1', MAC: '01:00:5e:00:00:01' }, /not a unicast MAC/)
    refused(AttachRequest, { Netns: 'c1', MAC: 'ff:ff:ff:ff:ff:ff' }, /not a unicast MAC/)
    refused(AttachRequest, { Netns: 'c1', MAC: '33:33:00:00:00:01' }, /not a unicast MAC/)
    accepted(AttachRequest, { Netns: 'c1', MAC: '02:42:0A:00:00:05' })
  })

  it('names, option keys and values never carry a second line, spaces, NUL or control characters', () => {
    for (const bad of ['a b', 'a\nb', 'a\u0000b', '-x', '.x', 'a/b', '../x', 'a\tb', 'é']) {
      refused(NetworkCreateRequest, { Name: bad }, /invalid name/)
      refused(AttachRequest, { Netns: 'c1', Name: bad }, /invalid name/)
    }
    for (const k of ['a b', 'a\nb', '', 'a\u0000']) refused(NetworkCreateRequest, { Name: 'x', Options: { [k]: 'v' } }, /invalid key/)
    for (const v of ['a\nb', 'a\u0000', 'a\rb']) refused(NetworkCreateRequest, { Name: 'x', Labels: { k: v } }, /invalid value/)
    accepted(NetworkCreateRequest, { Name: 'x', Labels: { description: 'a network with spaces' } })
    refused(IpamReclaimRequest, { Node: 'a\nb' }, /whitespace or control/)
    refused(IpamReclaimRequest, { Node: 'n'.repeat(257) }, /longer than 256/)
    refused(DetachRequest, { Netns: 'c1\n' }, /control characters/)
  })

  it('IPv6 zone ids and other non-IPv4 forms are refused for addresses', () => {
    refused(AttachRequest, { Netns: 'c1', IP: 'fe80::1%eth0' }, /invalid IP address/)
    refused(AttachRequest, { Netns: 'c1', IP: '10.0.0.1%eth0' }, /invalid IP address/)
    refused(NetworkCreateRequest, { Name: 'x', Subnet: 'fe80::%eth0/64' }, /invalid CIDR/)
    refused(NetworkCreateRequest, { Name: 'x', Subnet: '10.0.0.0/24', Gateway: '10.0.0.1%lo' }, /invalid IP address/)
  })

  it('the endpoint record of a default endpoint name fits the decoder whatever the network name', async function () {
    this.timeout(60_000)
    let s: ControllerStack | undefined
    try {
      s = await controllerStack(1)
      const k = s
      const long = 'n'.repeat(MAX_RECORD_NAME)
      await k.run(async () => await k.host(0).controller.createNetwork({ Name: long }))
      const att = await k.run(async () => await k.host(0).controller.attach(long, { Netns: 'c1' }))
      const ep = k.host(0).controller
      const inspect = await ep.inspectNetwork(long, true)
      const mine = inspect.Endpoints?.find(e => e.EndpointID === att.EndpointID)
      assert.ok(mine !== undefined, 'the endpoint record decodes (it was dropped when its name exceeded the cap)')
      assert.ok(mine.Name.length <= MAX_RECORD_NAME)
      assert.equal(decodeEndpointRecord(encodeEndpointRecord({ nid: 'a', eid: 'b', name: mine.Name, ip: '10.0.0.2/24', mac: '02:42:0a:00:00:02', node: 'n', nodeId: 'i', vtep: '192.0.2.1' })).name, mine.Name)
    } finally {
      await s?.close()
    }
  })
})

describe('--netns: only /run/netns names and other processes\' namespaces (issue 19 item 8)', () => {
  it('syntax: names, /run/netns paths and /proc/PID/ns/net; nothing else', () => {
    for (const ok of ['c1', 'ctr_1.a@b:c+d-e', '/run/netns/c1', '/var/run/netns/c1', '/proc/123/ns/net', '/proc/1/task/77/ns/net']) {
      assert.equal(netnsSyntaxError(ok), undefined, ok)
      accepted(AttachRequest, { Netns: ok })
    }
    const bad: Array<[string, RegExp]> = [
      ['-n', /begins with "-"/],
      ['--all', /begins with "-"/],
      ['..', /contains "\.\."/],
      ['a..b', /contains "\.\."/],
      ['/run/netns/../../proc/1/ns/net', /must be \/run\/netns\/NAME|contains/],
      ['/run/netns/..', /contains "\.\."/],
      ['a b', /no spaces/],
      ['a\nlink set lo down', /no spaces/],
      ['a\u0000', /no spaces/],
      ['x'.repeat(256), /longer than 255/],
      ['/proc/self/ns/net', /must be \/run\/netns/],
      ['/proc/thread-self/ns/net', /must be \/run\/netns/],
      ['/proc/1/ns/mnt', /must be \/run\/netns/],
      ['/etc/passwd', /must be \/run\/netns/],
      ['/tmp/ns/c1', /must be \/run\/netns/],
      ['relative/path', /no spaces, slashes/]
    ]
    for (const [netns, re] of bad) {
      assert.match(netnsSyntaxError(netns) ?? '(accepted)', re, JSON.stringify(netns))
      refused(AttachRequest, { Netns: netns }, re)
    }
  })

  describe('with real namespaces', function () {
    const tag = `ovt-nsg-${randomBytes(3).toString('hex')}`
    const other = `${tag}-c`
    const alias = `${tag}-alias`
    before(() => {
      execFileSync('ip', ['netns', 'add', other])
      // a /run/netns name that is a bind mount of the agent's (the host's) own namespace
      execFileSync('ip', ['netns', 'attach', alias, String(process.pid)])
    })
    after(() => {
      for (const n of [other, alias]) { try { execFileSync('ip', ['netns', 'del', n], { stdio: 'ignore' }) } catch {} }
    })

    const refusedTarget = async (netns: string): Promise<void> => {
      await assert.rejects(checkNetnsTarget(netns), (e: unknown) => e instanceof BadRequestError && /host's own network namespace/.test(e.message))
    }

    it('refuses the init namespace, the agent\'s own, and a /run/netns alias of either', async function () {
      // PID 1's namespace may be out of reach (a container without access to its init): then
      // only the agent's own is compared, which is the same namespace in that case
      if (readable('/proc/1/ns/net')) await refusedTarget('/proc/1/ns/net')
      await refusedTarget(`/proc/${process.pid}/ns/net`)
      await refusedTarget(alias)
      await refusedTarget(`/run/netns/${alias}`)
    })

    it('accepts another namespace by name, by path, and by a process living in it', async () => {
      await checkNetnsTarget(other)
      await checkNetnsTarget(`/run/netns/${other}`)
      const sleeper = spawn('ip', ['netns', 'exec', other, 'sleep', '30'], { stdio: 'ignore' })
      try {
        const path = `/proc/${sleeper.pid}/ns/net`
        const want = statSync(`/run/netns/${other}`).ino
        for (let i = 0; i < 200 && (readable(path) ? statSync(path).ino : 0) !== want; i++) await new Promise(resolve => setTimeout(resolve, 10))
        assert.equal(statSync(path).ino, want, 'the process entered the namespace')
        await checkNetnsTarget(path)
      } finally {
        sleeper.kill('SIGKILL')
      }
      await checkNetnsTarget('does-not-exist-yet') // left to the dataplane, which reports it missing
    })

    it('the controller refuses to attach a container to the host namespace, and nothing is allocated', async function () {
      this.timeout(60_000)
      let s: ControllerStack | undefined
      try {
        s = await controllerStack(1)
        const k = s
        await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'red', Subnet: '10.77.0.0/24' }))
        for (const netns of [`/proc/${process.pid}/ns/net`, alias]) {
          await assert.rejects(k.run(async () => await k.host(0).controller.attach('red', { Netns: netns })), /host's own network namespace/)
        }
        const v = await k.host(0).controller.inspectNetwork('red', true)
        assert.deepEqual(v.Containers, {})
        assert.equal(v.Status?.IPAM.Subnets['10.77.0.0/24']?.IPsInUse, 1, 'only the gateway')
      } finally {
        await s?.close()
      }
    })
  })
})
