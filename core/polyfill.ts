/**
 * The one polyfill module. It is loaded first (mocha's `require`, the `ovnet` bin, the benches)
 * so that dependencies written for Node >= 22 run on the Node 20 machines.
 *
 * - Promise.withResolvers (ES2024, Node 22): used by libp2p 3 (it-queue, mortice).
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = function withResolvers<T> (): Resolvers<T> {
    let resolve!: Resolvers<T>['resolve']
    let reject!: Resolvers<T>['reject']
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

export {}
