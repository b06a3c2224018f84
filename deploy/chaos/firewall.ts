/**
 * Network faults as iptables rules on the hosts themselves, the same commands on both targets.
 * All rules go to one chain, OVCHAOS, jumped to from INPUT and OUTPUT, so that removing the
 * chain's jumps and the chain removes every fault (a crashed run leaves nothing a `heal` cannot
 * undo). In the lab the rules live in the host namespaces and vanish with them.
 *
 * Every rule names a peer's underlay address, never an interface or "everything": the operator's
 * own ssh session to a host is never cut.
 *   partition (gossip) : tcp with source or destination port = gossip port, to/from the peers
 *   partition (vxlan)  : udp to the VXLAN port, to/from the peers
 *   loss               : any packet to/from the peers, with `-m statistic --mode random`
 *   isolate            : any packet to/from the peers (a host down, a node cut off)
 * This kernel has no netem; `statistic` is the way to lose packets.
 */
import type { ChaosTarget } from './target.js'

export const CHAIN = 'OVCHAOS'

export type Cut = { kind: 'gossip', port: number } | { kind: 'vxlan', port: number } | { kind: 'loss', probability: number } | { kind: 'isolate' }

/** iptables match+target arguments of the rules cutting traffic between this host and `peer`. */
export function rulesFor (cut: Cut, peer: string, tag: string): string[][] {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(peer)) throw new Error(`not an IPv4 address: ${peer}`)
  if (!/^[A-Za-z0-9:._-]{1,200}$/.test(tag)) throw new Error(`bad rule tag: ${tag}`)
  const comment = ['-m', 'comment', '--comment', `ovchaos:${tag}`]
  let match: string[]
  switch (cut.kind) {
    // multiport --ports: the source OR the destination port, so both the connections this host
    // opened to the peer and those the peer opened to it are cut, replies included.
    case 'gossip': match = ['-p', 'tcp', '-m', 'multiport', '--ports', String(cut.port)]; break
    // VXLAN: the destination port is fixed, the source port is a flow hash.
    case 'vxlan': match = ['-p', 'udp', '--dport', String(cut.port)]; break
    case 'loss':
      if (!(cut.probability > 0 && cut.probability < 1)) throw new Error(`loss probability must be in (0, 1), got ${cut.probability}`)
      match = ['-m', 'statistic', '--mode', 'random', '--probability', String(cut.probability)]
      break
    case 'isolate': match = []; break
  }
  return [['-s', peer, ...match, ...comment, '-j', 'DROP'], ['-d', peer, ...match, ...comment, '-j', 'DROP']]
}

function script (lines: readonly string[]): string {
  return ['set -e', ...lines].join('\n')
}

const q = (args: readonly string[]): string => args.map(a => (/^[A-Za-z0-9_:.,/=-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ')

/** Create the chain and its jumps on host i (idempotent). */
export async function installChain (t: ChaosTarget, i: number): Promise<void> {
  const r = await t.exec(i, ['sh', '-c', script([
    `iptables -w -N ${CHAIN} 2>/dev/null || true`,
    `iptables -w -C INPUT -j ${CHAIN} 2>/dev/null || iptables -w -I INPUT -j ${CHAIN}`,
    `iptables -w -C OUTPUT -j ${CHAIN} 2>/dev/null || iptables -w -I OUTPUT -j ${CHAIN}`
  ])])
  if (r.code !== 0) throw new Error(`${t.hosts[i]!.label}: cannot install the ${CHAIN} chain: ${r.stderr.trim()}`)
}

/** Remove every fault, the jumps and the chain on host i (idempotent, never throws). */
export async function removeChain (t: ChaosTarget, i: number): Promise<void> {
  await t.exec(i, ['sh', '-c', [
    `iptables -w -D INPUT -j ${CHAIN} 2>/dev/null`,
    `iptables -w -D OUTPUT -j ${CHAIN} 2>/dev/null`,
    `iptables -w -F ${CHAIN} 2>/dev/null`,
    `iptables -w -X ${CHAIN} 2>/dev/null`,
    'true'
  ].join('; ')]).catch(() => {})
}

/** A fault in force: the rules added on each host, so that exactly they can be removed. */
export interface AppliedCut {
  tag: string
  rules: Map<number, string[][]>
}

/**
 * Apply `cut` between each host of `side` and each of `peers`, on the hosts of `side` (and, with
 * `bothSides`, symmetrically on the peers too: a partition then holds even if one side's rules
 * were to fail).
 */
export async function applyCut (t: ChaosTarget, cut: Cut, side: readonly number[], peers: readonly number[], tag: string, bothSides = true): Promise<AppliedCut> {
  const applied: AppliedCut = { tag, rules: new Map() }
  const plan = new Map<number, string[][]>()
  const add = (host: number, other: number): void => {
    const list = plan.get(host) ?? []
    list.push(...rulesFor(cut, t.hosts[other]!.ip, tag))
    plan.set(host, list)
  }
  for (const a of side) for (const b of peers) { add(a, b); if (bothSides) add(b, a) }
  await Promise.all([...plan].map(async ([host, rules]) => {
    const r = await t.exec(host, ['sh', '-c', script(rules.map(rule => `iptables -w -A ${CHAIN} ${q(rule)}`))])
    if (r.code !== 0) throw new Error(`${t.hosts[host]!.label}: iptables failed: ${r.stderr.trim()}`)
    applied.rules.set(host, rules)
  }))
  return applied
}

/** Remove exactly the rules of `applied` (a rule already gone is fine). */
export async function removeCut (t: ChaosTarget, applied: AppliedCut): Promise<void> {
  await Promise.all([...applied.rules].map(async ([host, rules]) => {
    await t.exec(host, ['sh', '-c', rules.map(rule => `iptables -w -D ${CHAIN} ${q(rule)} 2>/dev/null`).join('; ') + '; true'])
  }))
  applied.rules.clear()
}

/** The OVCHAOS rules on host i now (iptables -S), for reports. */
export async function listRules (t: ChaosTarget, i: number): Promise<string[]> {
  const r = await t.exec(i, ['iptables', '-w', '-S', CHAIN])
  return r.code === 0 ? r.stdout.split('\n').filter(l => l.startsWith('-A ')) : []
}
