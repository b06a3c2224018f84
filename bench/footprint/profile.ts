/** Sums node:inspector CPU profiles by function and by package (self time), for bench:footprint. */

export interface CpuProfile {
  nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }>
  samples: number[]
  timeDeltas: number[]
}

/** The package (node_modules/<name> or <@scope/name>), ovnet's own top folder, or node's built-ins. */
function where (url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m !== null) return m[1]!
  const d = /\/dist\/([^/]+)\//.exec(url)
  if (d !== null) return `ovnet/${d[1]!}`
  if (url.startsWith('node:')) return 'node:internal'
  return url === '' ? '(vm)' : url
}

/** Lines "ms  %  name": the top functions and the packages by self time. */
export function profileTops (profiles: readonly CpuProfile[], top: number): string[] {
  const byFn = new Map<string, number>()
  const byPkg = new Map<string, number>()
  let total = 0
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map(n => [n.id, n]))
    // Samples under the probe itself (starting the profiler: node:inspector's dispatch) are not
    // the agent's.
    const parent = new Map<number, number>()
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const probe = new Set<number>()
    for (const n of p.nodes) {
      for (let q: number | undefined = n.id; q !== undefined; q = parent.get(q)) {
        if (nodes.get(q)!.callFrame.url.endsWith('/footprint/probe.js')) { probe.add(n.id); break }
      }
    }
    p.samples.forEach((id, i) => {
      const n = nodes.get(id)
      if (n === undefined || probe.has(id)) return
      const us = p.timeDeltas[i] ?? 0
      const { functionName, url, lineNumber } = n.callFrame
      // (program): native code outside JavaScript (syscalls, libuv); counted, as it is CPU.
      if (functionName === '(idle)') return
      total += us
      const fn = `${functionName === '' ? '(anonymous)' : functionName} ${where(url)}:${lineNumber + 1}`
      byFn.set(fn, (byFn.get(fn) ?? 0) + us)
      const pkg = functionName.startsWith('(') ? functionName : where(url)
      byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us)
    })
  }
  const lines = (m: Map<string, number>): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(8)} ms ${(100 * us / total).toFixed(1).padStart(5)} %  ${k}`)
  return [`total non-idle ${(total / 1000).toFixed(1)} ms`, '-- by package:', ...lines(byPkg), '-- by function:', ...lines(byFn)]
}
