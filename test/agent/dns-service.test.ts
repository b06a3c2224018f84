/**
 * The embedded DNS room on the real controller over an in-memory cluster of 3 hosts: names come
 * from the replicated endpoint table (aliases included) on every host, follow detaches and a
 * killed host, askers are tied to their namespace's networks, listeners follow the host's own
 * endpoints per network sandbox (bound once, re-bound for a re-made sandbox, closed with the last
 * endpoint), attach and inspect report the resolver, `--dns` writes and removes resolv.conf.
 * The sandbox "namespaces" are files in a temp dir; binding is a fake on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as dns from 'dns-packet'
import { DnsService, type NetnsSockets } from '../../agent/dns/index.js'
import { MemoryMetrics, silentLogger } from '../../core/index.js'
import { sandboxName } from '../../overlay/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

const tick = async (ms = 20): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
async function eventually (what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fn()) return
    await tick()
  }
  throw new Error(`${what}: not within 4 s`)
}

describe('embedded DNS room on the controller (in-memory cluster of 3)', function () {
  this.timeout(60_000)
  let k: ControllerStack
  let dir: string
  const services: DnsService[] = []
  const binds: Array<{ host: number, path: string, address: string }> = []

  const bindFake = (host: number) => async (path: string, address: string): Promise<NetnsSockets> => {
    const ino = (await stat(path)).ino
    binds.push({ host, path, address })
    const udp = createSocket('udp4')
    await new Promise<void>(resolve => { udp.bind(0, '127.0.0.1', () => { resolve() }) })
    const tcp = createServer()
    await new Promise<void>(resolve => { tcp.listen(0, '127.0.0.1', () => { resolve() }) })
    return { udp, tcp, ino }
  }

  /** The answer host `h`'s resolver gives the container at `src` on network `nid`. */
  async function ask (h: number, nid: string, src: string, name: string, type: dns.RecordType = 'A'): Promise<{ rcode: number, data: string[] } | undefined> {
    const asker = services[h]!.identify(nid, src)
    if (asker === undefined) return undefined
    const q = dns.encode({ type: 'query', id: 1, questions: [{ type, name, class: 'IN' }] })
    const a = await services[h]!.resolver.handle(q, asker, 'udp')
    const d = dns.decode(a!)
    return { rcode: (d.flags ?? 0) & 0xf, data: (d.answers ?? []).map(x => String((x as { data: unknown }).data)) }
  }

  const sandboxFile = (h: number, nid: string): string => join(dir, 'netns', sandboxName(k.host(h).db.nodeName, nid))

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovnet-dns-'))
    await import('node:fs/promises').then(async fs => { await fs.mkdir(join(dir, 'netns')); await fs.mkdir(join(dir, 'etc')) })
    k = await controllerStack(3, {
      dns: (i, db, state) => {
        const s = new DnsService({
          db, state, nodeName: db.nodeName, logger: silentLogger, metrics: new MemoryMetrics(), reconcileMs: 0,
          bind: bindFake(i), netnsDir: join(dir, 'netns'), etcDir: join(dir, 'etc'), upstreams: []
        })
        services[i] = s
        s.start()
        return s
      }
    })
  })

  after(async () => {
    for (const s of services) await s.stop()
    await k.close()
    await rm(dir, { recursive: true, force: true })
  })

  let red = ''
  let blue = ''
  const ips: Record<string, string> = {}

  it('attach reports the resolver; names and aliases resolve on every host for the network\'s containers only', async () => {
    red = (await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'red', Subnet: '10.60.0.0/24' }))).Id
    blue = (await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'blue', Subnet: '10.61.0.0/24' }))).Id
    await k.c.advance(2000)
    for (let h = 0; h < 3; h++) for (const nid of [red, blue]) await writeFile(sandboxFile(h, nid), '')
    const attach = async (h: number, net: string, netns: string, name: string, aliases: string[] = [], dnsFlag = false): Promise<string> => {
      const r = await k.run(async () => await k.host(h).controller.attach(net, { Netns: netns, Name: name, Aliases: aliases, ...(dnsFlag ? { DNS: true } : {}) }))
      ips[name] = r.IPv4Address.split('/')[0]!
      return r.DNS ?? ''
    }
    assert.equal(await attach(0, 'red', 'n-r0', 'r0', ['app']), '10.60.0.1:53')
    await attach(1, 'red', 'n-r1', 'r1', ['app', 'one'], true)
    await attach(2, 'red', 'n-r2', 'r2')
    await attach(2, 'blue', 'n-b2', 'b2')
    await k.c.advance(2000)
    for (let h = 0; h < 3; h++) {
      const src = ips[`r${h}`]!
      await eventually(`host ${h} knows r0..r2`, async () => (await ask(h, red, src, 'r0'))?.data[0] === ips.r0 && (await ask(h, red, src, 'r2'))?.data[0] === ips.r2)
      assert.deepEqual((await ask(h, red, src, 'app'))!.data.sort(), [ips.r0, ips.r1].sort())
      assert.deepEqual((await ask(h, red, src, 'ONE.red'))!.data, [ips.r1])
      assert.equal((await ask(h, red, src, 'b2'))!.rcode, 3, 'the other network\'s name: NXDOMAIN')
    }
    assert.deepEqual((await ask(2, blue, ips.b2!, 'b2'))!.data, [ips.b2])
    assert.equal((await ask(2, blue, ips.b2!, 'r0'))!.rcode, 3)
    assert.equal(await ask(0, red, '10.60.0.200', 'r0'), undefined, 'no endpoint of this host: no asker')
    assert.equal(await ask(0, red, ips.r1!, 'r0'), undefined, 'an endpoint of another host asks its own host')
    const inspect = await k.run(async () => await k.host(1).controller.inspectNetwork('red', true))
    assert.equal(inspect.DNS?.Resolver, '10.60.0.1:53')
    assert.deepEqual(inspect.Endpoints!.find(e => e.Name === 'r1')!.Aliases, ['app', 'one'])
    assert.deepEqual(inspect.Containers[Object.keys(inspect.Containers)[0]!]!.Aliases, ['app', 'one'])
  })

  it('a namespace on two networks (named two ways) asks for both; --dns wrote its resolv.conf', async () => {
    await k.run(async () => await k.host(2).controller.attach('blue', { Netns: '/run/netns/n-r2', Name: 'rb2', IfName: 'eth1' }))
    assert.deepEqual((await ask(2, red, ips.r2!, 'b2'))!.data, [ips.b2])
    assert.match(await readFile(join(dir, 'etc', 'netns', 'n-r1', 'resolv.conf'), 'utf8'), /^nameserver 10\.60\.0\.1$/m)
    await assert.rejects(readFile(join(dir, 'etc', 'netns', 'n-r0', 'resolv.conf')), 'no --dns: nothing written')
  })

  it('listeners: one bind per network sandbox and host, on the gateway; re-bound for a re-made sandbox', async () => {
    await eventually('listening everywhere', () => services.every((s, h) => s.view(red)?.Listening === true && (h !== 2 || s.view(blue)?.Listening === true)))
    const perHost = (h: number, nid: string): number => binds.filter(b => b.host === h && b.path === sandboxFile(h, nid)).length
    assert.deepEqual([0, 1, 2].map(h => perHost(h, red)), [1, 1, 1])
    assert.ok(binds.every(b => b.address === (b.path.endsWith(red.slice(0, 12)) ? '10.60.0.1' : '10.61.0.1')))
    assert.equal(services[0]!.view(blue)?.Listening, false, 'no endpoint of host 0 on blue: no listener')
    const events: string[] = []
    const unsubscribe = k.host(0).controller.subscribeEvents(ev => { if (ev.Type === 'dns') events.push(`${ev.Action} ${ev.Actor.Attributes.network ?? ''} ${ev.Actor.Attributes.address ?? ''}`) })
    // The sandbox made anew (another inode): the next own change re-binds.
    // (made before the old one goes, so that the file system cannot hand out the same inode)
    await writeFile(`${sandboxFile(0, red)}.new`, 'x')
    await rename(`${sandboxFile(0, red)}.new`, sandboxFile(0, red))
    await k.run(async () => await k.host(0).controller.attach('red', { Netns: 'n-r0b', Name: 'r0b' }))
    await eventually('re-bound on host 0', () => perHost(0, red) === 2)
    unsubscribe()
    assert.deepEqual(events, ['close red 10.60.0.1:53', 'listen red 10.60.0.1:53'], '`ovnet events` shows the resolver going and coming')
  })

  it('a first attach under way (its sandbox made, no endpoint yet) gets the listener; its end without one closes it', async () => {
    const s0 = services[0]!
    assert.equal(s0.view(blue)?.Listening, false, 'host 0 has no endpoint on blue')
    const before = binds.length
    s0.preparing(blue, true)
    await eventually('listening on blue while preparing', () => s0.view(blue)?.Listening === true)
    assert.deepEqual(binds.slice(before).map(b => [b.host, b.address]), [[0, '10.61.0.1']])
    s0.preparing(blue, false)
    await eventually('closed: the attach ended without an endpoint', () => s0.view(blue)?.Listening === false)
  })

  it('detach: the name goes on every host, the last local endpoint closes the listener, --dns file removed', async () => {
    await k.run(async () => { await k.host(1).controller.detach('red', { Netns: 'n-r1' }) })
    await k.c.advance(2000)
    for (const h of [0, 2]) {
      // No longer a cluster name: forwarded (no upstream here: SERVFAIL), not answered.
      await eventually(`r1 gone on host ${h}`, async () => (await ask(h, red, ips[`r${h}`]!, 'r1'))?.rcode === 2)
      assert.deepEqual((await ask(h, red, ips[`r${h}`]!, 'app'))!.data, [ips.r0])
    }
    await eventually('host 1 closed its listener', () => services[1]!.view(red)?.Listening === false)
    await assert.rejects(readFile(join(dir, 'etc', 'netns', 'n-r1', 'resolv.conf')))
  })

  it('a killed host\'s names go when its endpoints go', async () => {
    await k.kill(2)
    await k.c.advance(10_000)
    await eventually('r2 gone on host 0', async () => (await ask(0, red, ips.r0!, 'r2'))?.rcode === 2)
    assert.equal(services[0]!.names.lookup('r2', new Set([red])).kind, 'unknown')
  })
})
