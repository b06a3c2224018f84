/**
 * The data-plane check: every container pings every other container of its network (all must
 * answer), and one container of every other network (none may answer). Pings run inside the
 * container namespaces on their hosts through the target, a few at a time (two cores in CI).
 */
import type { Rng } from './rng.js'
import type { ChaosTarget } from './target.js'

export interface PingPeer { name: string, host: number, netns: string, ip: string, network: string }

export interface PingResult {
  /** Same-network pairs tried. */
  pairs: number
  /** Same-network pairs that got no answer (after retries): "from -> to". */
  unreachable: string[]
  /** Cross-network pairs tried. */
  crossPairs: number
  /** Cross-network pairs that DID answer: "from -> to". */
  crossed: string[]
  ms: number
}

const CONCURRENCY = 6

async function pingOnce (t: ChaosTarget, from: PingPeer, to: PingPeer, timeoutS: number): Promise<boolean> {
  const r = await t.exec(from.host, ['ping', '-c', '1', '-W', String(timeoutS), '-q', to.ip], { netns: from.netns })
  return r.code === 0
}

async function pool<T> (items: readonly T[], fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => { while (next < items.length) await fn(items[next++]!) }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker))
}

export async function pingCheck (t: ChaosTarget, peers: readonly PingPeer[], rng: Rng, o: { retries?: number, timeoutS?: number } = {}): Promise<PingResult> {
  const started = Date.now()
  const same: Array<[PingPeer, PingPeer]> = []
  const cross: Array<[PingPeer, PingPeer]> = []
  const networks = [...new Set(peers.map(p => p.network))].sort()
  for (const a of peers) {
    for (const b of peers) if (a !== b && a.network === b.network) same.push([a, b])
    for (const other of networks) {
      if (other === a.network) continue
      const candidates = peers.filter(p => p.network === other)
      if (candidates.length > 0) cross.push([a, rng.pick(candidates)])
    }
  }
  let failing = same
  for (let attempt = 0; attempt <= (o.retries ?? 2) && failing.length > 0; attempt++) {
    if (attempt > 0) await new Promise(resolve => setTimeout(resolve, 1000))
    const failed: Array<[PingPeer, PingPeer]> = []
    await pool(failing, async ([a, b]) => { if (!await pingOnce(t, a, b, o.timeoutS ?? 1)) failed.push([a, b]) })
    failing = failed
  }
  const crossed: string[] = []
  await pool(cross, async ([a, b]) => { if (await pingOnce(t, a, b, 1)) crossed.push(`${a.name} -> ${b.name} (${b.ip}, ${b.network})`) })
  return {
    pairs: same.length,
    unreachable: failing.map(([a, b]) => `${a.name} -> ${b.name} (${b.ip}, ${a.network})`).sort(),
    crossPairs: cross.length,
    crossed: crossed.sort(),
    ms: Date.now() - started
  }
}
