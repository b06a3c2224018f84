/**
 * How the controller's operations may overlap. Cluster-wide ones (network create and remove,
 * restore, the reactions to removals, stop) run alone. Per-network ones (attach, detach, address
 * requests) share the cluster-wide lock and take turns per network only for the steps that pick
 * from the network's pool, so attaches to unrelated networks (and the kernel work of attaches to
 * one network) never wait for each other.
 */
import { SharedLock } from '../overlay/index.js'
import { SerialQueue } from '../core/index.js'

export class OpLocks {
  private readonly cluster = new SharedLock()
  private readonly perNetwork = new Map<string, { queue: SerialQueue, users: number }>()

  /** Alone: no other operation runs meanwhile. */
  exclusive<T> (fn: () => Promise<T>): Promise<T> { return this.cluster.runExclusive(fn) }

  /** Alongside other per-network operations; never alongside an exclusive one. */
  shared<T> (fn: () => Promise<T>): Promise<T> { return this.cluster.runShared(fn) }

  /** One at a time per network (call inside `shared`). */
  async network<T> (nid: string, fn: () => Promise<T>): Promise<T> {
    let slot = this.perNetwork.get(nid)
    if (slot === undefined) { slot = { queue: new SerialQueue(), users: 0 }; this.perNetwork.set(nid, slot) }
    slot.users++
    try {
      return await slot.queue.run(fn)
    } finally {
      if (--slot.users === 0) this.perNetwork.delete(nid)
    }
  }
}
