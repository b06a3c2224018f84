/** Helpers for NetworkDB cluster tests. */
import { generateKey } from '@libp2p/pnet'
import type { MemoryCluster } from '../../networkdb/index.js'
import { parseClusterKey } from '../../networkdb/cluster-key.js'

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
export const dec = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)

/** The running nodes of a cluster. */
export function live (c: MemoryCluster): number[] {
  return c.nodes.map((_, i) => i).filter(i => c.isUp(i))
}

/** Network digests of every running node that is in `nid`. */
export function digests (c: MemoryCluster, nid: string): Map<number, string> {
  const out = new Map<number, string>()
  for (const i of live(c)) {
    const n = c.nodes[i]!.diagnostics().networks.find(x => x.nid === nid)
    if (n !== undefined) out.set(i, n.digest)
  }
  return out
}

/** Advance in steps until `pred` holds; returns the virtual ms it took, throws after `maxMs`. */
export async function until (c: MemoryCluster, pred: () => boolean, maxMs = 30_000, stepMs = 50): Promise<number> {
  let spent = 0
  while (!pred()) {
    if (spent >= maxMs) throw new Error(`condition not reached within ${maxMs} ms of virtual time`)
    await c.advance(stepMs)
    spent += stepMs
  }
  return spent
}

export function table (c: MemoryCluster, i: number, t: string, nid: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of c.nodes[i]!.walkTable(t, nid)) out[e.key] = dec(e.value)!
  return out
}

/** A fresh cluster key (libp2p pnet), parsed as the agent parses its key file. */
export function newClusterKey (): Uint8Array {
  const raw = new Uint8Array(95)
  generateKey(raw)
  return parseClusterKey(new TextDecoder().decode(raw))
}

/** Wait, in real time, until `cond` holds. */
export async function waitFor (what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
