/**
 * The encrypted data plane without namespaces: key files, the peer record, the owner-keyed
 * table, the peer set derived from NetworkDB (in-memory cluster, fake clock), the overlay
 * driver's encrypted sandboxes (memory data plane) and the agent's configuration.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KeyFileError, KeyStore, parseDump, publicKeyOf, WireguardEncryption } from '../../agent/crypto/index.js'
import { loadAgentConfig } from '../../agent/index.js'
import { generateClusterKey } from '../../networkdb/index.js'
import { MemoryMetrics, silentLogger } from '../../core/index.js'
import { createMemoryCluster, driven, networkTopic, type MemoryCluster } from '../../networkdb/index.js'
import { encodeGossip } from '../../proto/index.js'
import { decodeWireguardPeer, encodeWireguardPeer, WIREGUARD_PEER_TABLE } from '../../proto/index.js'
import { encryptedOption, InvalidParameterError, OVERLAY_GLOBAL_NETWORK, type EncryptionPort } from '../../overlay/index.js'
import { until } from '../networkdb/helpers.js'
import { createNet, IPAM, joinLocal, NID, rig, SANDBOX } from '../overlay/helpers.js'

const pexec = promisify(execFile)

describe('encrypted data plane: keys, records, peers, driver, config', function () {
  this.timeout(60_000)
  let dir = ''
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ovnet-wg-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  describe('key file', () => {
    it('is made at first start with mode 0600 and read back unchanged; wg agrees on the public key', async () => {
      const ks = new KeyStore(dir)
      const a = await ks.loadOrCreate()
      assert.equal((await stat(ks.path)).mode & 0o777, 0o600)
      const b = await new KeyStore(dir).loadOrCreate()
      assert.deepEqual(b, a)
      const child = execFile('wg', ['pubkey'])
      child.stdin!.end(`${a.privateKey}\n`)
      let out = ''
      child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
      await new Promise(resolve => child.once('close', resolve))
      assert.equal(out.trim(), a.publicKey)
    })

    it('a corrupt key file is an error, never replaced; a readable one is made private', async () => {
      const ks = new KeyStore(dir)
      await writeFile(ks.path, 'not a key\n')
      await assert.rejects(ks.loadOrCreate(), KeyFileError)
      assert.equal(await readFile(ks.path, 'utf8'), 'not a key\n')
      const { stdout } = await pexec('wg', ['genkey'])
      await writeFile(ks.path, stdout, { mode: 0o644 })
      const pair = await ks.loadOrCreate()
      assert.equal(pair.publicKey, publicKeyOf(stdout.trim()))
      assert.equal((await stat(ks.path)).mode & 0o777, 0o600)
    })
  })

  it('the peer record round-trips and refuses bad keys, ports and modes', () => {
    const ok = { publicKey: publicKeyOf(Buffer.alloc(32, 7).toString('base64')), port: 51820, mode: 'userspace' as const }
    assert.deepEqual(decodeWireguardPeer(encodeWireguardPeer(ok)), ok)
    for (const bad of [{ ...ok, publicKey: 'abc' }, { ...ok, port: 0 }, { ...ok, port: 70000 }, { ...ok, mode: 'magic' }]) {
      assert.throws(() => decodeWireguardPeer(encodeWireguardPeer(bad as typeof ok)))
    }
  })

  it('parses `wg show DEV dump`', () => {
    const d = parseDump('priv\tPUB=\t51820\toff\nPEER1=\t(none)\t198.18.0.12:51820\t198.18.0.12/32\t1700000000\t10\t20\toff\nPEER2=\t(none)\t(none)\t(none)\t0\t0\t0\toff\n')
    assert.equal(d.publicKey, 'PUB=')
    assert.equal(d.listenPort, 51820)
    assert.deepEqual(d.peers[0], { publicKey: 'PEER1=', endpoint: '198.18.0.12:51820', allowedIps: ['198.18.0.12/32'], latestHandshake: 1700000000, rx: 10, tx: 20 })
    assert.deepEqual(d.peers[1]!.allowedIps, [])
    assert.equal(d.peers[1]!.endpoint, undefined)
  })

  describe('peers from NetworkDB (in-memory cluster)', () => {
    let c: MemoryCluster | undefined
    const encs: WireguardEncryption[] = []
    afterEach(async () => {
      for (const e of encs.splice(0)) await e.stop({ keepDataplane: true })
      await c?.close()
      c = undefined
    })

    async function setup (): Promise<{ cl: MemoryCluster, metrics: MemoryMetrics[] }> {
      c = await createMemoryCluster(3, { seed: 11 })
      const cl = c
      const metrics: MemoryMetrics[] = []
      for (let i = 0; i < 3; i++) {
        await mkdir(join(dir, `n${i}`))
        const m = new MemoryMetrics()
        metrics.push(m)
        const e = new WireguardEncryption({
          db: cl.nodes[i]!, dataDir: join(dir, `n${i}`), vtep: `192.0.2.${i + 1}`, device: `wgu${randomBytes(3).toString('hex')}`, listenPort: 51820, vxlanPort: 4790,
          underlayMtu: async () => 1500, logger: silentLogger, metrics: m, clock: cl.clock, mode: 'userspace', resyncMs: 0
        })
        encs.push(e)
        await driven(cl.clock, async () => { await e.start() })
      }
      await until(cl, () => encs.every(e => e.desiredPeers().length === 2))
      return { cl, metrics }
    }

    it('every live member with a record is a peer at its advertise address; a failed one leaves; a rotated key replaces the old', async () => {
      const { cl, metrics } = await setup()
      const p = encs[0]!.desiredPeers().sort((a, b) => a.endpoint.localeCompare(b.endpoint))
      assert.deepEqual(p.map(x => [x.publicKey, x.endpoint, x.allowedIp]), [
        [encs[1]!.publicKey, '192.0.2.2:51820', '192.0.2.2/32'],
        [encs[2]!.publicKey, '192.0.2.3:51820', '192.0.2.3/32']
      ])
      assert.equal(metrics[0]!.get('ovnet_wireguard_mode', { mode: 'userspace' }), 1)
      assert.equal(metrics[0]!.get('ovnet_wireguard_mode', { mode: 'kernel' }), 0)
      assert.equal(encs[0]!.modeOf(cl.ids[1]!), 'userspace')
      const old = encs[1]!.publicKey
      const fresh = await driven(cl.clock, async () => await encs[1]!.rotate())
      await until(cl, () => encs[0]!.desiredPeers().some(x => x.publicKey === fresh))
      assert.ok(!encs[0]!.desiredPeers().some(x => x.publicKey === old))
      assert.equal(metrics[1]!.get('ovnet_wireguard_key_rotations_total'), 1)
      await cl.kill(2)
      await until(cl, () => encs[0]!.desiredPeers().length === 1)
      assert.equal(encs[0]!.desiredPeers()[0]!.allowedIp, '192.0.2.2/32')
    })

    it('a record under another node\'s id is refused everywhere (no squatting of a key)', async () => {
      const { cl } = await setup()
      // Node 2 writes, signed as itself, a record under node 1's id at a high Lamport time.
      const forged = encodeGossip({ t: 'tables', b: { nid: OVERLAY_GLOBAL_NETWORK, entries: [{ table: WIREGUARD_PEER_TABLE, key: cl.ids[1]!, owner: cl.ids[2]!, ltime: 500, deleted: false, value: encodeWireguardPeer({ publicKey: encs[2]!.publicKey!, port: 1, mode: 'userspace' }), reapIn: 0 }] } })
      const before = cl.nodes[0]!.stats().rejected
      await cl.net.node(cl.ids[2]!)!.publish(networkTopic(OVERLAY_GLOBAL_NETWORK), forged)
      await cl.advance(200)
      assert.equal(cl.nodes[0]!.stats().rejected, before + 1)
      assert.equal(cl.nodes[0]!.getEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, cl.ids[1]!)?.owner, cl.ids[1])
      // And the local API refuses to write one.
      await assert.rejects(cl.nodes[2]!.createEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, 'someone-else', new Uint8Array([1])), /own id/)
    })
  })

  describe('overlay driver', () => {
    const port = (): EncryptionPort & { ensured: number } => ({ dstPort: 4790, overhead: 60, ensured: 0, async ensure () { this.ensured++ }, check () {} })

    it('an encrypted network gets the encrypted VXLAN port and room for WireGuard in its MTU; a plain one is unchanged', async () => {
      const enc = port()
      const r = rig({ encryption: enc })
      await createNet(r.driver, NID, 4097, { encrypted: '' })
      await joinLocal(r.driver, 'e1', '10.0.0.5')
      assert.equal(enc.ensured, 1)
      const s = r.dp.sandboxes.get(SANDBOX)!.spec
      assert.equal(s.dstPort, 4790)
      assert.equal(s.mtu, 1500 - 50 - 60)
      assert.equal(r.driver.status().networks[0]!.encrypted, true)
      const nid2 = 'f1f2f3f4f5f6a7b8c9d0'
      await createNet(r.driver, nid2, 4098)
      await joinLocal(r.driver, 'e2', '10.0.0.6', nid2)
      const plain = r.dp.sandboxes.get('ovnet-n1-f1f2f3f4f5f6')!.spec
      assert.equal(plain.dstPort, 4789)
      assert.equal(plain.mtu, 1450)
      assert.equal(enc.ensured, 1)
    })

    it('without encryption (or with a host that cannot) an encrypted network is refused, and a "no" value is an error', async () => {
      const r = rig()
      await assert.rejects(r.driver.networkAllocate(NID, { encrypted: 'true', 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, IPAM, []), InvalidParameterError)
      await createNet(r.driver, NID, 4097, { encrypted: '' })
      await assert.rejects(joinLocal(r.driver, 'e1', '10.0.0.5'), /encrypted networks are not available/)
      assert.equal(r.dp.sandboxes.size, 0)
      const cannot = rig({ encryption: { dstPort: 4790, overhead: 60, ensure: async () => {}, check: () => { throw new Error('no WireGuard here') } } })
      await assert.rejects(cannot.driver.networkAllocate(NID, { encrypted: '', 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, IPAM, []), /no WireGuard here/)
      assert.equal(encryptedOption({ encrypted: 'true' }), true)
      assert.equal(encryptedOption({}), false)
      assert.throws(() => encryptedOption({ encrypted: 'false' }), InvalidParameterError)
    })
  })

  it('config: the encrypted VXLAN port defaults to the plain one + 1 and must differ from it; device names are checked', async () => {
    const key = join(dir, 'cluster.key')
    await generateClusterKey(key)
    const c = await loadAgentConfig({ clusterKey: key }, { hostname: 'h' })
    assert.deepEqual([c.vxlanPort, c.encryptedVxlanPort, c.wgInterface, c.wgPort], [4789, 4790, 'ovwg0', 51820])
    assert.equal((await loadAgentConfig({ clusterKey: key, vxlanPort: '4790' }, { hostname: 'h' })).encryptedVxlanPort, 4791)
    await assert.rejects(loadAgentConfig({ clusterKey: key, encryptedVxlanPort: '4789' }, { hostname: 'h' }), /encrypted-vxlan-port: must differ/)
    await assert.rejects(loadAgentConfig({ clusterKey: key, wgInterface: 'a/b' }, { hostname: 'h' }), /wg-interface/)
  })
})
