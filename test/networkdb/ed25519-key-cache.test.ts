import assert from 'node:assert/strict'
import { createPrivateKey, sign } from 'node:crypto'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { ed25519KeyImports, PUBLIC_KEY_CACHE_SIZE } from '../../networkdb/ed25519-key-cache.js'

describe('Ed25519 key cache (patched @libp2p/crypto key classes)', () => {
  const msg = new TextEncoder().encode('an entry of table endpoints, network n1')

  it('verifies a good signature, refuses a changed one, another key\'s, and a changed message', async () => {
    const a = await generateKeyPair('Ed25519')
    const b = await generateKeyPair('Ed25519')
    const sig = await a.sign(msg)
    // a fresh key object per check, as gossipsub builds from each message's `from`
    assert.equal(await publicKeyFromRaw(a.publicKey.raw).verify(msg, sig), true)
    for (let i = 0; i < 3; i++) {
      const bad = Uint8Array.from(sig)
      bad[i * 20] = bad[i * 20]! ^ 0x01
      assert.equal(await publicKeyFromRaw(a.publicKey.raw).verify(msg, bad), false)
    }
    assert.equal(await publicKeyFromRaw(b.publicKey.raw).verify(msg, sig), false)
    const other = Uint8Array.from(msg)
    other[0] = other[0]! ^ 0x01
    assert.equal(await publicKeyFromRaw(a.publicKey.raw).verify(other, sig), false)
    assert.equal(await b.publicKey.verify(msg, await b.sign(msg)), true)
  })

  it('signatures equal those of the unpatched code (Ed25519 is deterministic)', async () => {
    const a = await generateKeyPair('Ed25519')
    // what @libp2p/crypto's hashAndSign does on every call
    const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64url')
    const jwk = { crv: 'Ed25519', kty: 'OKP', d: b64(a.raw.subarray(0, 32)), x: b64(a.raw.subarray(32)) }
    const expected = sign(null, msg, createPrivateKey({ format: 'jwk', key: jwk }))
    assert.deepEqual(Buffer.from(await a.sign(msg)), expected)
  })

  it('imports a key once, however many messages it verifies or signs', async () => {
    const a = await generateKeyPair('Ed25519')
    const before = ed25519KeyImports()
    const sig = await a.sign(msg)
    for (let i = 0; i < 50; i++) {
      assert.equal(await publicKeyFromRaw(a.publicKey.raw).verify(msg, sig), true)
      await a.sign(msg)
    }
    assert.equal(ed25519KeyImports() - before, 2, 'one import of the private key, one of the public key')
  })

  it('stays bounded: the oldest key is dropped, and still verifies after a re-import', async () => {
    const first = await generateKeyPair('Ed25519')
    const sig = await first.sign(msg)
    assert.equal(await first.publicKey.verify(msg, sig), true)
    const before = ed25519KeyImports()
    const raw = new Uint8Array(32)
    for (let i = 0; i < PUBLIC_KEY_CACHE_SIZE; i++) {
      raw[0] = i & 0xff
      raw[1] = i >> 8
      raw[31] = 0x11 // a valid encoding is not needed to be refused: none of these verify
      try { assert.equal(await publicKeyFromRaw(raw).verify(msg, sig), false) } catch { /* not a point */ }
    }
    const imported = ed25519KeyImports()
    assert.ok(imported - before > PUBLIC_KEY_CACHE_SIZE / 2, 'the fillers were imported')
    assert.equal(await first.publicKey.verify(msg, sig), true)
    assert.equal(ed25519KeyImports(), imported + 1, 'the first key was evicted and imported again')
  })

  it('keeps @libp2p/crypto\'s errors for a signature of the wrong length', async () => {
    const a = await generateKeyPair('Ed25519')
    await assert.rejects(async () => { await a.publicKey.verify(msg, new Uint8Array(63)) }, /64 bytes/)
  })
})
