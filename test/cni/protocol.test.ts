/**
 * The CNI protocol of `ovnet-cni`, in-process: main() with CNI_* variables, a config on stdin and
 * a fake agent and kernel, per command and per error path (environment, stdin config, bad JSON,
 * versions). The real socket, the real agent and a real runtime are in plugin-bin and podman tests.
 */
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { AgentUnavailableError, ApiError } from '../../agent/api-client.js'
import type { AttachmentView, AttachRequest, AttachResponse, DetachRequest } from '../../agent/api-types.js'
import { main, type AgentPort, type NetnsView } from '../../agent/cni/index.js'

interface Run { code: number, out: Record<string, unknown> | undefined, text: string }

class FakeAgent implements AgentPort {
  attaches: Array<{ network: string, req: AttachRequest }> = []
  detaches: Array<{ network: string, req: DetachRequest }> = []
  list: AttachmentView[] = []
  fail: Error | undefined
  async attach (network: string, req: AttachRequest): Promise<AttachResponse> {
    if (this.fail !== undefined) throw this.fail
    this.attaches.push({ network, req })
    return { EndpointID: 'e'.repeat(64), IPv4Address: '10.9.0.5/24', MacAddress: '02:42:0a:09:00:05', Gateway: '10.9.0.1' }
  }

  async detach (network: string, req: DetachRequest): Promise<void> {
    if (this.fail !== undefined) throw this.fail
    this.detaches.push({ network, req })
  }

  async attachments (_network: string): Promise<AttachmentView[]> {
    if (this.fail !== undefined) throw this.fail
    return this.list
  }
}

const GOOD_VIEW: NetnsView = {
  link: { name: 'eth0', mac: '02:42:0a:09:00:05', up: true, mtu: 1450 },
  addresses: ['10.9.0.5/24'],
  routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1', dev: 'eth0' }, { dst: '10.9.0.0/24', dev: 'eth0' }]
}

const ENV = { CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/ctr', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' }
const conf = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ cniVersion: '1.0.0', name: 'ovnet-test', type: 'ovnet', network: 'red', ...over })

describe('ovnet-cni protocol', () => {
  let agent: FakeAgent
  let view: NetnsView
  let inspected: Array<[string, string]>

  beforeEach(() => {
    agent = new FakeAgent()
    view = structuredClone(GOOD_VIEW)
    inspected = []
  })

  async function run (env: Record<string, string>, stdin: string | Record<string, unknown>, argv: string[] = ['node', 'ovnet-cni']): Promise<Run> {
    let text = ''
    const sockets: string[] = []
    const code = await main(argv, env, Readable.from([typeof stdin === 'string' ? stdin : JSON.stringify(stdin)]), { write: (s: string) => { text += s } },
      (socket) => {
        sockets.push(socket)
        return {
          agent,
          inspector: { inspect: async (ns, ifName) => { inspected.push([ns, ifName]); return view } },
          // The container namespace "exists" and is not the plugin's own.
          nsId: (p) => (p === '/proc/self/ns/net' ? 'self' : p.includes('missing') ? undefined : `id:${p}`)
        }
      })
    let out: Record<string, unknown> | undefined
    if (text.trim().startsWith('{')) out = JSON.parse(text) as Record<string, unknown>
    return { code, out, text }
  }

  describe('VERSION', () => {
    it('answers in the version asked and lists 0.3.0 to 1.1.0', async () => {
      for (const v of ['0.4.0', '1.0.0', '1.1.0']) {
        const r = await run({ CNI_COMMAND: 'VERSION' }, { cniVersion: v })
        assert.equal(r.code, 0)
        assert.deepEqual(r.out, { cniVersion: v, supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] })
      }
    })

    it('needs no input (answers in the latest version)', async () => {
      const r = await run({ CNI_COMMAND: 'VERSION' }, '')
      assert.equal(r.code, 0)
      assert.equal(r.out?.cniVersion, '1.1.0')
    })
  })

  describe('environment', () => {
    it('no CNI_COMMAND: code 4 naming it (and --help explains)', async () => {
      const r = await run({}, conf())
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 4)
      assert.match(String(r.out?.msg), /CNI_COMMAND/)
      const h = await run({}, '', ['node', 'ovnet-cni', '--help'])
      assert.equal(h.code, 0)
      assert.match(h.text, /versions supported: 0\.3\.0/)
    })

    it('ADD without CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME: one code-4 error naming all three', async () => {
      const r = await run({ CNI_COMMAND: 'ADD' }, conf())
      assert.equal(r.code, 1)
      assert.deepEqual(r.out, { cniVersion: '1.0.0', code: 4, msg: 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME] missing' })
      assert.equal(agent.attaches.length, 0)
    })

    it('DEL does not need CNI_NETNS', async () => {
      const r = await run({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc123', CNI_IFNAME: 'eth0' }, conf())
      assert.equal(r.code, 0)
      assert.equal(r.text, '')
    })

    it('unknown command, bad container id, bad interface name, bad CNI_ARGS: code 4', async () => {
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{ ...ENV, CNI_COMMAND: 'FROB' }, /unknown CNI_COMMAND: FROB/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '-bad/id' }, /CNI_CONTAINERID/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a-very-long-ifname0' }, /CNI_IFNAME.*too long/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth:0' }, /CNI_IFNAME/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'IgnoreUnknown=1;novalue' }, /CNI_ARGS/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/missing' }, /CNI_NETNS .* does not exist/],
        [{ ...ENV, CNI_COMMAND: 'ADD', CNI_NETNS: '/proc/self/ns/net' }, /plugin's own/]
      ]
      for (const [env, msg] of cases) {
        const r = await run(env, conf())
        assert.equal(r.code, 1, JSON.stringify(env))
        assert.equal(r.out?.code, 4, JSON.stringify(r.out))
        assert.match(String(r.out?.msg), msg)
      }
      assert.equal(agent.attaches.length, 0)
    })
  })

  describe('stdin config', () => {
    const add = { ...ENV, CNI_COMMAND: 'ADD' }
    it('bad JSON: code 6', async () => {
      const r = await run(add, '{"cniVersion": "1.0.0", "name": ')
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 6)
      assert.match(String(r.out?.msg), /unmarshalling network config/)
      const arr = await run(add, '[1, 2]')
      assert.equal(arr.out?.code, 6)
    })

    it('missing or unknown cniVersion: code 1 (incompatible), with the supported list', async () => {
      const noVersion = await run(add, { name: 'x', type: 'ovnet', network: 'red' })
      assert.equal(noVersion.out?.code, 1)
      assert.match(String(noVersion.out?.details), /0\.1\.0.*1\.1\.0/)
      for (const v of ['0.2.0', '2.0.0', 'one']) {
        const r = await run(add, conf({ cniVersion: v }))
        assert.equal(r.code, 1)
        assert.equal(r.out?.code, 1, v)
        assert.equal(r.out?.cniVersion, v, 'the error speaks the version asked')
      }
    })

    it('name, network, socket, mtu, dns wrong: code 7', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [conf({ name: undefined }), /missing network name/],
        [conf({ name: 'bad name!' }), /network name/],
        [conf({ network: undefined }), /"network"/],
        [conf({ network: '' }), /"network"/],
        [conf({ socket: 'relative.sock' }), /"socket"/],
        [conf({ mtu: 20 }), /"mtu"/],
        [conf({ mtu: '1400' }), /"mtu"/],
        [conf({ dns: ['8.8.8.8'] }), /"dns"/],
        [conf({ runtimeConfig: { ips: ['10.9.0.7/24', '10.9.0.8/24'] } }), /one IPv4/]
      ]
      for (const [c, msg] of cases) {
        const r = await run(add, c)
        assert.equal(r.code, 1)
        assert.equal(r.out?.code, 7, JSON.stringify(c))
        assert.match(String(r.out?.msg), msg)
      }
      assert.equal(agent.attaches.length, 0)
    })

    it('an ipam section: code 2, naming the field and its value', async () => {
      const r = await run(add, conf({ ipam: { type: 'host-local', subnet: '10.1.0.0/16' } }))
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 2)
      assert.match(String(r.out?.msg), /"ipam".*host-local/)
      assert.equal(agent.attaches.length, 0)
    })
  })

  describe('ADD', () => {
    it('attaches by (container id, ifname, CNI network) and returns interfaces, ips, routes, dns (1.0.0 shape)', async () => {
      const dns = { nameservers: ['10.9.0.1'], search: ['cluster.local'] }
      const r = await run({ ...ENV, CNI_COMMAND: 'ADD', CNI_IFNAME: 'net1', CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=web;K8S_POD_NAME=web' },
        conf({ mtu: 1400, dns, socket: '/tmp/x.sock', runtimeConfig: { ips: ['10.9.0.5/24'], mac: '02:42:0a:09:00:05' } }))
      assert.equal(r.code, 0, r.text)
      assert.deepEqual(agent.attaches, [{
        network: 'red',
        req: { Netns: '/run/netns/ctr', Name: 'web', IfName: 'net1', ContainerID: 'abc123', CNINetwork: 'ovnet-test', MTU: 1400, IP: '10.9.0.5', MAC: '02:42:0a:09:00:05' }
      }])
      assert.deepEqual(r.out, {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'net1', mac: '02:42:0a:09:00:05', mtu: 1400, sandbox: '/run/netns/ctr' }],
        ips: [{ address: '10.9.0.5/24', gateway: '10.9.0.1', interface: 0 }],
        routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1' }],
        dns
      })
    })

    it('0.4.0 and 0.3.1 results carry each address\'s IP version', async () => {
      for (const v of ['0.4.0', '0.3.1']) {
        const r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ cniVersion: v }))
        assert.equal(r.code, 0)
        assert.equal(r.out?.cniVersion, v)
        assert.deepEqual(r.out?.ips, [{ version: '4', address: '10.9.0.5/24', gateway: '10.9.0.1', interface: 0 }])
        assert.equal('dns' in r.out, false)
      }
    })

    it('endpoint names: K8S namespace_pod, else cni-<container id>', async () => {
      await run({ ...ENV, CNI_COMMAND: 'ADD', CNI_ARGS: 'K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx-1' }, conf())
      await run({ ...ENV, CNI_COMMAND: 'ADD', CNI_CONTAINERID: '0123456789abcdef' }, conf())
      assert.deepEqual(agent.attaches.map(a => a.req.Name), ['default_nginx-1', 'cni-0123456789ab'])
    })

    it('agent not reachable: code 11 (try again later); network unknown or value refused: code 7; already attached: 102', async () => {
      agent.fail = new AgentUnavailableError('/run/ovnet/ovnet.sock', 'ENOENT', 'cannot connect to the ovnet agent at /run/ovnet/ovnet.sock: is the agent running?')
      let r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf())
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 11)
      assert.match(String(r.out?.details), /is the agent running/)
      agent.fail = new Error('the ovnet agent did not answer POST /v1/networks/red/attach within 60 s')
      r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf())
      assert.equal(r.out?.code, 11)
      agent.fail = new ApiError(404, 'ErrNoSuchNetwork', 'network red not found')
      r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf())
      assert.equal(r.out?.code, 7)
      assert.match(String(r.out?.msg), /ovnet network red does not exist/)
      agent.fail = new ApiError(400, 'InvalidParameterError', 'ovnet.mtu 9000 is above the network\'s MTU 1450')
      r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf({ mtu: 9000 }))
      assert.equal(r.out?.code, 7)
      assert.match(String(r.out?.details), /above the network's MTU/)
      agent.fail = new ApiError(400, 'ErrInvalidJoin', 'a container cannot join a network twice')
      r = await run({ ...ENV, CNI_COMMAND: 'ADD' }, conf())
      assert.equal(r.out?.code, 102)
    })
  })

  describe('DEL', () => {
    const del = { ...ENV, CNI_COMMAND: 'DEL' }
    it('detaches by container id and interface name, prints nothing', async () => {
      const r = await run(del, conf({ prevResult: { cniVersion: '1.0.0', ips: [] } }))
      assert.equal(r.code, 0)
      assert.equal(r.text, '')
      assert.deepEqual(agent.detaches, [{ network: 'red', req: { ContainerID: 'abc123', IfName: 'eth0' } }])
    })

    it('is idempotent: no such attachment or no such network is success', async () => {
      for (const type of ['ErrNoSuchEndpoint', 'ErrNoSuchNetwork']) {
        agent.fail = new ApiError(404, type, 'not found')
        const r = await run(del, conf())
        assert.equal(r.code, 0, type)
        assert.equal(r.text, '')
      }
    })

    it('agent not reachable: code 11 (the address would stay taken)', async () => {
      agent.fail = new AgentUnavailableError('/s', 'ECONNREFUSED', 'refused')
      const r = await run(del, conf())
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 11)
    })
  })

  describe('CHECK', () => {
    const check = { ...ENV, CNI_COMMAND: 'CHECK' }
    const prevResult = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: '02:42:0a:09:00:05', sandbox: '/run/netns/ctr' }],
      ips: [{ address: '10.9.0.5/24', gateway: '10.9.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.9.0.1' }]
    }
    const mine: AttachmentView = {
      EndpointID: 'e'.repeat(64), Name: 'c', Netns: '/run/netns/ctr', IfName: 'eth0', IPv4Address: '10.9.0.5/24', MacAddress: '02:42:0a:09:00:05', Gateway: '10.9.0.1', ContainerID: 'abc123', CNINetwork: 'ovnet-test'
    }

    it('passes when the agent holds the attachment and the kernel has interface, address and routes', async () => {
      agent.list = [mine]
      const r = await run(check, conf({ prevResult }))
      assert.equal(r.code, 0, r.text)
      assert.equal(r.text, '')
      assert.deepEqual(inspected, [['/run/netns/ctr', 'eth0']])
    })

    it('fails for each broken part: 100 unknown to the agent, 101 kernel state', async () => {
      let r = await run(check, conf({ prevResult }))
      assert.equal(r.out?.code, 100)
      agent.list = [mine]
      const broken: Array<[(v: NetnsView) => void, RegExp]> = [
        [v => { delete v.link }, /no such interface/],
        [v => { v.link!.up = false }, /down/],
        [v => { v.link!.mac = '02:00:00:00:00:01' }, /MAC/],
        [v => { v.addresses = [] }, /address 10\.9\.0\.5\/24 missing/],
        [v => { v.routes = v.routes.filter(x => x.dst !== '0.0.0.0/0') }, /route 0\.0\.0\.0\/0 via 10\.9\.0\.1 missing/]
      ]
      for (const [spoil, msg] of broken) {
        view = structuredClone(GOOD_VIEW)
        spoil(view)
        r = await run(check, conf({ prevResult }))
        assert.equal(r.code, 1)
        assert.equal(r.out?.code, 101)
        assert.match(String(r.out?.msg), msg)
      }
      view = structuredClone(GOOD_VIEW)
      r = await run(check, conf({ prevResult: { ...prevResult, ips: [{ address: '10.9.0.77/24' }] } }))
      assert.equal(r.out?.code, 101)
      assert.match(String(r.out?.msg), /agent holds 10\.9\.0\.5\/24/)
    })

    it('needs 0.4.0 or later (code 1) and a prevResult (code 7)', async () => {
      agent.list = [mine]
      let r = await run(check, conf({ cniVersion: '0.3.1', prevResult }))
      assert.equal(r.out?.code, 1)
      assert.match(String(r.out?.msg), /does not allow CHECK/)
      r = await run(check, conf())
      assert.equal(r.out?.code, 7)
    })
  })

  describe('STATUS and GC (1.1.0)', () => {
    const cniAtt = (id: string, ifName: string, net = 'ovnet-test'): AttachmentView => ({
      EndpointID: `ep-${id}-${ifName}`, Name: id, Netns: `/run/netns/${id}`, IfName: ifName, IPv4Address: '10.9.0.9/24', MacAddress: '02:42:0a:09:00:09', ContainerID: id, CNINetwork: net
    })

    it('STATUS: 0 when the agent answers, 50 when it does not; refused below 1.1.0', async () => {
      let r = await run({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }))
      assert.equal(r.code, 0)
      agent.fail = new AgentUnavailableError('/s', 'ENOENT', 'no agent')
      r = await run({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' }))
      assert.equal(r.code, 1)
      assert.equal(r.out?.code, 50)
      r = await run({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.0.0' }))
      assert.equal(r.out?.code, 1)
    })

    it('GC detaches only this CNI network\'s attachments missing from cni.dev/valid-attachments', async () => {
      agent.list = [
        cniAtt('keep', 'eth0'), cniAtt('stale', 'eth0'), cniAtt('keep', 'net1'),
        cniAtt('other-runtime', 'eth0', 'another-conf'),
        { EndpointID: 'cli', Name: 'cli', Netns: 'x', IfName: 'eth0', IPv4Address: '10.9.0.3/24', MacAddress: '02:42:0a:09:00:03' }
      ]
      const r = await run({ CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] }))
      assert.equal(r.code, 0, r.text)
      assert.equal(r.text, '')
      assert.deepEqual(agent.detaches.map(d => d.req), [{ ContainerID: 'stale', IfName: 'eth0' }, { ContainerID: 'keep', IfName: 'net1' }])
    })

    it('GC: a network the agent does not know is nothing to collect; refused below 1.1.0; a bad list is code 7', async () => {
      agent.fail = new ApiError(404, 'ErrNoSuchNetwork', 'gone')
      let r = await run({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0' }))
      assert.equal(r.code, 0)
      agent.fail = undefined
      r = await run({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.0.0' }))
      assert.equal(r.out?.code, 1)
      r = await run({ CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 1 }] }))
      assert.equal(r.out?.code, 7)
    })
  })
})
