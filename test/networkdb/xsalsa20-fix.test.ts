import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { xsalsa20 as reference } from '@noble/ciphers/salsa.js'
import { patchXsalsa20 } from '../../networkdb/xsalsa20-fix.js'

type Cipher = { update(input: Uint8Array): Uint8Array, finalize(): void }
const factory = createRequire(import.meta.url)('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => Cipher

describe('xsalsa20 WASM fixes (pnet)', function () {
  it('many ciphers stay correct while one of them pushes frames that grow the memory', () => {
    assert.equal(patchXsalsa20(), true)
    const key = randomBytes(32)
    const ciphers = Array.from({ length: 40 }, () => ({ nonce: randomBytes(24), pos: 0, stream: [] as Uint8Array[], c: undefined as Cipher | undefined }))
    for (const x of ciphers) x.c = factory(x.nonce, key)
    for (let round = 0; round < 30; round++) {
      for (const [i, x] of ciphers.entries()) {
        // one cipher sends big frames (memory growth), the others small ones after it
        const size = i === round % ciphers.length ? 3 * 1024 * 1024 + 17 : 1 + ((round * 131 + i * 17) % 3000)
        const plain = randomBytes(size)
        const out = x.c!.update(plain)
        const expected = reference(key, x.nonce, new Uint8Array(x.pos + size).fill(0)).subarray(x.pos)
        for (let b = 0; b < size; b += 4099) assert.equal(out[b]! ^ plain[b]!, expected[b], `cipher ${i} round ${round} byte ${b}`)
        assert.equal(out[size - 1]! ^ plain[size - 1]!, expected[size - 1])
        x.pos += size
      }
    }
    for (const x of ciphers) x.c!.finalize()
  })

  it('a cipher that is never finalized (pnet never does) does not hold WASM memory: 20,000 connections later ciphers still work', () => {
    // Before the fix every cipher kept a 64-byte WASM slot until finalize(); after some thousand
    // leaked slots, creating a cipher threw a RangeError.
    const key = randomBytes(32)
    for (let i = 0; i < 20_000; i++) {
      const c = factory(randomBytes(24), key)
      c.update(randomBytes(1 + (i % 70)))
    }
    const nonce = randomBytes(24)
    const c = factory(nonce, key)
    const plain = randomBytes(1000)
    const out = c.update(plain)
    const expected = reference(key, nonce, new Uint8Array(1000))
    assert.deepEqual(out.map((b, i) => b ^ plain[i]!), expected)
  })

  it('odd split points give the same keystream as one call', () => {
    const key = randomBytes(32)
    const nonce = randomBytes(24)
    const c = factory(nonce, key)
    const splits = [1, 63, 64, 65, 0, 127, 1000, 3, 3677, 4101, 10_000, 7, 2989, 8192]
    const expected = reference(key, nonce, new Uint8Array(splits.reduce((a, b) => a + b, 0)))
    const got: number[] = []
    for (const n of splits) got.push(...c.update(new Uint8Array(n)))
    assert.deepEqual(new Uint8Array(got), expected)
    c.finalize()
    assert.throws(() => c.update(new Uint8Array(1)), /after finalize/)
  })
})
