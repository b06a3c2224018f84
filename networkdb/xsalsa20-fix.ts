/**
 * Workaround for two bugs of `xsalsa20` 1.2 (the WASM cipher under @libp2p/pnet 3.0.x), both
 * seen as agent crashes in our benchmarks:
 *
 * 1. Detached views: every cipher keeps its own Uint8Array view of the shared WASM memory; when
 *    one cipher grows the memory (a large frame), every other view is detached (length 0), and the
 *    next update of those ciphers "grows" by the whole input again — the memory balloons until
 *    `WebAssembly.Memory.grow(): Maximum memory size exceeded` (20 nodes, 1 MB bulk-sync frames).
 *    Fixed upstream by windowing the xor (js-libp2p PR #3585), not released yet.
 * 2. Leaked state slots: each cipher takes a 64-byte slot of the WASM memory, returned only by
 *    `finalize()` — which pnet never calls. Every connection leaks two slots; once the slots pass
 *    the end of the memory, creating a cipher throws a RangeError (a process with churning
 *    connections, e.g. peers restarting, dies after some hundreds to thousands of connections).
 *
 * The patch: on its first update, a cipher reads its nonce and key back, frees its WASM slot at
 * once, and from then on runs on @noble/ciphers' audited xsalsa20 (pure JS, no shared memory).
 * The keystream is the same (a stream: any split of the input gives the same output; tested
 * against @noble and against an unpatched cipher). Noble's block counter is 32 bits: past 256 GiB
 * in one direction of one connection it throws instead of wrapping, which closes that connection
 * (a new one gets fresh nonces) — never a reused keystream.
 * Loaded by the libp2p transport before it creates a node.
 */
import { createRequire } from 'node:module'
import { xsalsa20 } from '@noble/ciphers/salsa.js'

interface WasmState {
  _memory: Uint8Array
  _nonce: number
  _key: number
  finalize: () => void
}
interface Outer {
  _xor: WasmState | NobleStream | null
  update: (input: Uint8Array, output?: Uint8Array) => Uint8Array
  finalize: () => void
}
type Factory = ((nonce: Uint8Array, key: Uint8Array) => Outer) & { prototype: Outer }

const PATCHED = Symbol.for('ovnet.xsalsa20.patched.v2')

const KS_BYTES = 4096

/**
 * xsalsa20 as a stream on @noble/ciphers. Frames are small (gossip: a few hundred bytes), so the
 * keystream is made 4 KiB at a time and XORed from that buffer; inputs of 4 KiB and more, starting
 * on a block boundary, go straight through noble at their block counter.
 */
export class NobleStream {
  private block = 0
  private readonly ks = new Uint8Array(KS_BYTES)
  private left = 0
  constructor (private readonly key: Uint8Array, private readonly nonce: Uint8Array) {}

  update (input: Uint8Array, output: Uint8Array): void {
    const n = input.length
    let i = 0
    while (i < n) {
      if (this.left === 0) {
        const rest = n - i
        if (rest >= KS_BYTES) {
          const whole = rest - (rest % 64)
          xsalsa20(this.key, this.nonce, input.subarray(i, i + whole), output.subarray(i, i + whole), this.block)
          this.block += whole / 64
          i += whole
          continue
        }
        this.ks.fill(0)
        xsalsa20(this.key, this.nonce, this.ks, this.ks, this.block)
        this.block += KS_BYTES / 64
        this.left = KS_BYTES
      }
      const take = Math.min(this.left, n - i)
      const off = KS_BYTES - this.left
      for (let j = 0; j < take; j++) output[i + j] = input[i + j]! ^ this.ks[off + j]!
      this.left -= take
      i += take
    }
  }

  finalize (): void {
    this.key.fill(0)
    this.nonce.fill(0)
    this.ks.fill(0)
  }
}

export function patchXsalsa20 (): boolean {
  const require = createRequire(import.meta.url)
  const factory = require('xsalsa20') as Factory
  const probe = factory(new Uint8Array(24), new Uint8Array(32))
  const wasm = probe._xor as WasmState & { realloc?: unknown }
  const isWasm = typeof wasm.realloc === 'function'
  probe.finalize()
  if (!isWasm) return false // the pure-JS fallback has neither bug
  const proto = factory.prototype as Outer & { [PATCHED]?: boolean }
  if (proto[PATCHED] === true) return true

  /** A view of the current WASM memory (an older view is detached once the memory grew). */
  const freshView = (): Uint8Array => {
    const c = factory(new Uint8Array(24), new Uint8Array(32)) // reuses a free slot: never grows
    const view = (c._xor as WasmState)._memory
    c.finalize()
    return view
  }
  const adopt = (state: WasmState): NobleStream => {
    if (state._memory.byteLength === 0) state._memory = freshView()
    const nonce = state._memory.slice(state._nonce, state._nonce + 24)
    const key = state._memory.slice(state._key, state._key + 32)
    state.finalize() // zeroes and frees the slot
    return new NobleStream(key, nonce)
  }

  proto.update = function (this: Outer, input: Uint8Array, output?: Uint8Array): Uint8Array {
    if (input == null) throw new Error('input must be Uint8Array or Buffer')
    const out = output ?? new Uint8Array(input.length)
    if (this._xor === null) throw new Error('xsalsa20: cipher used after finalize')
    if (!(this._xor instanceof NobleStream)) this._xor = adopt(this._xor)
    if (input.length > 0) this._xor.update(input, out)
    return out
  }
  proto.finalize = function (this: Outer): void {
    const x = this._xor
    if (x instanceof NobleStream) x.finalize()
    else if (x !== null) {
      if (x._memory.byteLength === 0) x._memory = freshView()
      x.finalize()
    }
    this._xor = null
  }
  proto[PATCHED] = true
  return true
}

patchXsalsa20()
