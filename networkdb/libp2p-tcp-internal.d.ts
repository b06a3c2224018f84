/**
 * The one @libp2p/tcp module the package does not export, mapped to its file by the agent's
 * bundler (scripts/bundle.mjs; networkdb/tcp-write-cork.ts says why). Only what the patch uses
 * is declared.
 */
declare module 'ovnet-internal/libp2p-tcp-socket-to-conn' {
  export function toMultiaddrConnection (init: Record<string, unknown>): unknown
}
