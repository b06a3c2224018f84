/**
 * How the `ovnet agent` command loads the agent (issue 12: start-up time and memory). The agent's
 * module graph (libp2p, gossipsub, noise, yamux, pino, prom-client, zod, yaml and ovnet's own
 * layers: ~900 ESM modules) is loaded from ONE bundled file, dist/bundle/agent.js, made by the
 * build (scripts/bundle.mjs, esbuild; native modules stay in node_modules). Resolving, reading and
 * instantiating the modules one by one cost ~0.7 s of CPU and ~17 MiB of RSS more
 * (bench:footprint, docs/BENCHMARKS.md). From the sources (tsx: tests, development) there is no
 * bundle and agent-main.ts is imported as it is.
 *
 * Not done here: a smaller V8 young generation (`--semi-space-growth-factor=1`, settable at run
 * time, keeps the new space at 2 MiB instead of 32 MiB: ~25 MiB less RSS per idle agent). In
 * 20-agent clusters on 2 loaded cores it went with a seed that did not answer a joiner for 10 s
 * in 3 runs of 5 (none in 4 runs without it) and +0.35 % of a core at idle (docs/BENCHMARKS.md).
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export type AgentModules = typeof import('./agent-main.js')

export async function loadAgentModules (): Promise<AgentModules> {
  const bundle = new URL('../bundle/agent.js', import.meta.url)
  if (existsSync(fileURLToPath(bundle))) return await import(bundle.href) as AgentModules
  return await import('./agent-main.js')
}
