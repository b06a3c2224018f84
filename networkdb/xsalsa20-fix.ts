/**
 * Workaround for a bug in `xsalsa20` (the WASM cipher under @libp2p/pnet 3.0.27): every cipher
 * keeps its own Uint8Array view of the shared WASM memory; when one cipher grows the memory (a
 * large frame), every other view is detached (length 0), and the next update of those ciphers
 * "grows" by the whole input again — the memory balloons until `WebAssembly.Memory.grow(): Maximum
 * memory size exceeded` kills the process (seen with 20 nodes and 1 MB bulk-sync frames). Fixed
 * upstream by windowing the xor (js-libp2p PR #3585), not released yet.
 *
 * The patch: before each use, a cipher whose view is detached takes a fresh one; and updates go
 * through in windows of 64 KiB so the memory grows rarely and by little. Keystream semantics are
 * unchanged (the cipher is a stream: any split of the input gives the same output).
 * Loaded by the libp2p transport before it creates a node.
 */
import { createRequire } from 'node:module'

interface WasmCipher {
  _memory: Uint8Array
  update: (this: WasmCipher, input: Uint8Array, output: Uint8Array) => void
  finalize: (this: WasmCipher) => void
}
interface Cipher { _xor: WasmCipher, finalize(): void }
type Factory = (nonce: Uint8Array, key: Uint8Array) => Cipher

const WINDOW = 64 * 1024
const PATCHED = Symbol.for('ovnet.xsalsa20.patched')

export function patchXsalsa20 (): boolean {
  const require = createRequire(import.meta.url)
  const factory = require('xsalsa20') as Factory
  const probe = factory(new Uint8Array(24), new Uint8Array(32))
  const proto = Object.getPrototypeOf(probe._xor) as WasmCipher & { realloc?: unknown, [PATCHED]?: boolean }
  probe.finalize()
  if (typeof proto.realloc !== 'function') return false // the pure-JS fallback has no such bug
  if (proto[PATCHED] === true) return true
  const update = proto.update
  const finalize = proto.finalize
  const freshView = (): Uint8Array => {
    const c = factory(new Uint8Array(24), new Uint8Array(32))
    const view = c._xor._memory
    c.finalize()
    return view
  }
  proto.update = function (this: WasmCipher, input: Uint8Array, output: Uint8Array): void {
    for (let off = 0; off < input.length; off += WINDOW) {
      if (this._memory.byteLength === 0) this._memory = freshView()
      const end = Math.min(input.length, off + WINDOW)
      update.call(this, input.subarray(off, end), output.subarray(off, end))
    }
  }
  proto.finalize = function (this: WasmCipher): void {
    if (this._memory.byteLength === 0) this._memory = freshView()
    finalize.call(this)
  }
  proto[PATCHED] = true
  return true
}

patchXsalsa20()
