/**
 * Contain a js-libp2p/yamux race: when a connection closes while a new outbound stream's first
 * window update is still queued (yamux sends it in a microtask), `sendWindowUpdate` throws
 * `StreamStateError: Cannot write to a stream that is closed` outside any caller's reach, as an
 * uncaught exception — which would kill the agent over a connection that was going away anyway
 * (seen with 20 nodes under load; upstream: ChainSafe/js-libp2p-yamux#91 family).
 *
 * Only that error class is contained (and counted); anything else keeps Node's default: print it
 * and exit 1 — unless another 'uncaughtException' listener (a test runner) takes over.
 */
let contained = 0
let installed = false

export function containedStreamErrors (): number { return contained }

function isStreamStateError (err: unknown): boolean {
  return err instanceof Error && (err.name === 'StreamStateError' ||
    (err as { code?: string }).code === 'ERR_STREAM_STATE')
}

export function installLibp2pGuard (): void {
  if (installed) return
  installed = true
  process.on('uncaughtException', (err, origin) => {
    if (isStreamStateError(err)) { contained++; return }
    if (process.listenerCount('uncaughtException') > 1) return // someone else handles it
    process.stderr.write(`${origin}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  })
}

installLibp2pGuard()
