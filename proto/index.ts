/** Wire formats of ovnet. Every frame is a versioned msgpack envelope; see codec.ts. */
export * from './codec.js'
export * from './networkdb.js'
export * from './overlay.js'
export * from './agent.js'
export * from './ipam.js'
export * from './wireguard.js'
