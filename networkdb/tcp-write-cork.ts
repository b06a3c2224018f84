/**
 * @libp2p/tcp writes every chunk a connection sends with its own `socket.write`, i.e. its own
 * syscall: a gossip message to a peer is one write, and so is each other frame (a control
 * message, a probe, a stream's window update). NetworkDB often sends several in one go: the
 * gossip queue flushes the pending writes of every network in one timer callback, one message
 * per network, each to every peer; a request's stream opening and its first frame. The write
 * syscalls were the agents' largest single CPU item in the 20-host profile (docs/BENCHMARKS.md).
 *
 * The patch corks a TCP connection's socket at its first send of an event-loop turn and uncorks
 * it on process.nextTick, i.e. once the current callback and its microtasks are done: what was
 * sent meanwhile leaves as one `writev`, in order. Nothing waits for a timer or for more data, so
 * a lone frame leaves as early as before. Backpressure is unchanged: `socket.write` still answers
 * false past the high-water mark, and 'drain' comes once the corked data is out. Loaded from
 * networkdb/adapters.ts before a node is created.
 */
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'

const PATCHED = Symbol.for('ovnet.tcp.write-cork')

interface TcpConnection { socket: Socket, sendData: (data: unknown) => unknown }

function uncork (socket: Socket): void { socket.uncork() }

type ToConnection = (init: Record<string, unknown>) => TcpConnection

/**
 * @libp2p/tcp's connection class is not exported: its module, by path. Two ways, the first that
 * gives it wins:
 * - inside the agent's bundle, `ovnet-internal/libp2p-tcp-socket-to-conn`, which the bundler maps
 *   to that file (scripts/bundle.mjs): the bundle's one copy of it, the one libp2p uses (a path
 *   found at run time would load a second copy from node_modules, and the patch would miss);
 * - unbundled (tests, tsx), the file next to the package's entry; Node gives the very module
 *   instance @libp2p/tcp imports.
 * Should a release move the file, the patch is skipped (the agent runs as without it) and
 * test/networkdb/tcp-write-cork.test.ts, which loads the same path, fails.
 */
async function loadToConnection (): Promise<ToConnection | undefined> {
  const ways = [
    async () => await import('ovnet-internal/libp2p-tcp-socket-to-conn'),
    async () => await import(new URL('./socket-to-conn.js', import.meta.resolve('@libp2p/tcp')).href) as unknown
  ]
  for (const load of ways) {
    try {
      const mod = await load() as { toMultiaddrConnection?: ToConnection }
      if (typeof mod.toMultiaddrConnection === 'function') return mod.toMultiaddrConnection
    } catch { /* the next way */ }
  }
  return undefined
}

export function patchTcpWriteCork (toMultiaddrConnection: ToConnection): void {
  // a throw-away connection over a stand-in socket, only to reach the class's prototype
  const fake = Object.assign(new EventEmitter(), { setTimeout: () => {}, remoteAddress: '127.0.0.1', remotePort: 1 })
  const noop = Object.assign(() => {}, { trace: () => {}, error: () => {} })
  const sample = toMultiaddrConnection({ socket: fake, remoteAddr: multiaddr('/ip4/127.0.0.1/tcp/1'), log: noop })
  const proto = Object.getPrototypeOf(sample) as TcpConnection & { [PATCHED]?: boolean }
  if (proto[PATCHED] === true) return
  const original = proto.sendData
  proto.sendData = function (this: TcpConnection, data: unknown): unknown {
    const socket = this.socket
    if (socket.writableCorked === 0 && !socket.destroyed) {
      socket.cork()
      process.nextTick(uncork, socket)
    }
    return original.call(this, data)
  }
  proto[PATCHED] = true
}

const toConnection = await loadToConnection()
if (toConnection !== undefined) patchTcpWriteCork(toConnection)
