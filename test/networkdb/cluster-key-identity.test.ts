import assert from 'node:assert/strict'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { preSharedKey } from '@libp2p/pnet'
import { ClusterKeyError, generateClusterKey, loadClusterKey, parseClusterKey } from '../../networkdb/cluster-key.js'
import { IDENTITY_FILE, IdentityError, loadOrCreateIdentity, nodeIdOf } from '../../networkdb/adapters.js'

const HEX = 'dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d'

async function rejectsWith<E extends Error> (p: Promise<unknown>, cls: new (...a: never[]) => E, check?: (e: E) => void): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`)
    check?.(err)
    return true
  })
}

describe('cluster key file', function () {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ovnet-key-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('generates a 0600 swarm key that loads back as the bytes pnet accepts', async () => {
    const path = join(dir, 'cluster.key')
    await generateClusterKey(path)
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    const text = await readFile(path, 'utf8')
    assert.match(text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    const psk = await loadClusterKey(path)
    assert.equal(new TextDecoder().decode(psk), text)
    preSharedKey({ psk })() // pnet's own parser accepts it (throws on a bad key)
  })

  it('two generated keys differ', async () => {
    await generateClusterKey(join(dir, 'a'))
    await generateClusterKey(join(dir, 'b'))
    assert.notDeepEqual(await loadClusterKey(join(dir, 'a')), await loadClusterKey(join(dir, 'b')))
  })

  it('refuses to overwrite an existing file', async () => {
    const path = join(dir, 'cluster.key')
    await writeFile(path, 'precious')
    await rejectsWith(generateClusterKey(path), ClusterKeyError, e => { assert.equal(e.reason, 'exists') })
    assert.equal(await readFile(path, 'utf8'), 'precious')
  })

  it('refuses a key readable or writable by group or others, as ssh does, and names the fix', async () => {
    const path = join(dir, 'cluster.key')
    await generateClusterKey(path)
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660, 0o666]) {
      await chmod(path, mode)
      await rejectsWith(loadClusterKey(path), ClusterKeyError, e => {
        assert.equal(e.reason, 'mode', mode.toString(8))
        assert.match(e.message, new RegExp(`permissions 0${mode.toString(8)} are too open.*chmod 600`))
      })
    }
    for (const mode of [0o600, 0o400]) {
      await chmod(path, mode)
      await loadClusterKey(path)
    }
  })

  it('a missing file is a typed error', async () => {
    await rejectsWith(loadClusterKey(join(dir, 'nope')), ClusterKeyError, e => { assert.equal(e.reason, 'missing') })
  })

  it('rejects bad formats and wrong lengths', async () => {
    const cases: Array<[string, string]> = [
      ['', 'format'],
      ['hello world', 'format'],
      [`/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`, 'format'],
      [`/key/swarm/psk/1.0.0/\n/base64/\n${HEX}`, 'format'],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 62)}zz`, 'format'],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\nextra`, 'format'],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 32)}`, 'length'],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}00`, 'length']
    ]
    for (const [i, [text, reason]] of cases.entries()) {
      const path = join(dir, `bad${i}`)
      await writeFile(path, text)
      await rejectsWith(loadClusterKey(path), ClusterKeyError, e => { assert.equal(e.reason, reason, `case ${i}: ${e.message}`) })
    }
  })

  it('accepts CRLF, a trailing newline and upper-case hex, and canonicalises them', () => {
    const canonical = `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`
    const psk = parseClusterKey(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX.toUpperCase()}\r\n`)
    assert.equal(new TextDecoder().decode(psk), canonical)
  })
})

describe('node identity', function () {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ovnet-id-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('is created once (0600, no temp files left) and keeps its peer id across loads', async () => {
    const data = join(dir, 'data')
    const first = await loadOrCreateIdentity(data)
    const second = await loadOrCreateIdentity(data)
    assert.equal(first.type, 'Ed25519')
    assert.equal(nodeIdOf(second), nodeIdOf(first))
    assert.equal((await stat(join(data, IDENTITY_FILE))).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(data), [IDENTITY_FILE])
  })

  it('concurrent first starts agree on one identity', async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(async () => await loadOrCreateIdentity(dir)))
    assert.equal(new Set(keys.map(nodeIdOf)).size, 1)
    assert.deepEqual(await readdir(dir), [IDENTITY_FILE])
  })

  it('a corrupt key file is an error and is left in place', async () => {
    const path = join(dir, IDENTITY_FILE)
    for (const bytes of [new Uint8Array(0), Uint8Array.from([1, 2, 3, 4, 5]), new TextEncoder().encode('not a key at all, just text')]) {
      await writeFile(path, bytes)
      await rejectsWith(loadOrCreateIdentity(dir), IdentityError)
      assert.deepEqual(new Uint8Array(await readFile(path)), bytes)
    }
  })

  it('a truncated key file is an error', async () => {
    const key = await loadOrCreateIdentity(dir)
    const path = join(dir, IDENTITY_FILE)
    const raw = await readFile(path)
    await writeFile(path, raw.subarray(0, raw.byteLength - 10))
    await rejectsWith(loadOrCreateIdentity(dir), IdentityError)
    assert.ok(key.type === 'Ed25519')
  })
})
