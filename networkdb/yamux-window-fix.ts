/**
 * js-yamux answers every data frame it receives with a window update frame; go-yamux (and the
 * spec's intent) sends one only once half of the receive window is consumed. For gossip — one
 * small frame per message on long-lived streams — that doubled the frames on the wire: each
 * update is a frame to encrypt (noise, pnet) and write on one side, and to read, decrypt and
 * parse on the other (~5 % of a receiving node's CPU at 200 messages/s, measured).
 *
 * The patch applies go-yamux's rule to established streams: no update while less than half the
 * window is consumed. The sender is never stalled by it: it still has at least half a window
 * (128 KiB by default) to send into. Stream opening (SYN/ACK flags), pausing and the window's
 * auto-tuning stay as they are. Loaded by the libp2p transport before it creates a node.
 */
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

interface WindowState {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
  sendWindowUpdate: (this: WindowState) => void
}

const PATCHED = Symbol.for('ovnet.yamux.window-hysteresis')

export function patchYamuxWindowUpdates (): void {
  const proto = YamuxStream.prototype as unknown as WindowState & { [PATCHED]?: boolean }
  if (proto[PATCHED] === true) return
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function (this: WindowState): void {
    if (this.state === StreamState.Established && this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2) {
      return
    }
    original.call(this)
  }
  proto[PATCHED] = true
}

patchYamuxWindowUpdates()
