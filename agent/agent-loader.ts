/**
 * How the `ovnet agent` command loads the agent, for its start-up time and its memory (issue 12):
 *
 * - The agent's module graph (libp2p, gossipsub, noise, yamux, pino, prom-client, zod, yaml and
 *   ovnet's own layers: ~700 ESM files) is loaded from ONE bundled file, dist/bundle/agent.js,
 *   made by the build (scripts/bundle.mjs, esbuild; native modules stay in node_modules).
 *   Resolving, reading and instantiating the files one by one cost ~0.7 s of CPU and ~17 MiB of
 *   RSS more (bench:footprint, docs/BENCHMARKS.md). From the sources (tsx: tests, development)
 *   there is no bundle and agent-main.ts is imported as it is.
 * - V8's young generation stays at its initial 1 MiB per semi-space instead of growing to 16 MiB
 *   (a 32 MiB new space, mostly empty at idle but resident once touched). The heap limit flags
 *   (--max-semi-space-size) are read when the process starts; the growth factor is read at each
 *   scavenge, so setting it here, before the agent allocates, works whatever started node
 *   (systemd through bin/ovnet.js, the lab, a user's shell). The price: more frequent scavenges
 *   under bursts of messages.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

export type AgentModules = typeof import('./agent-main.js')

/** The V8 flag the agent process runs with (exported for the test that checks its effect). */
export const AGENT_V8_FLAGS = '--semi-space-growth-factor=1'

export async function loadAgentModules (): Promise<AgentModules> {
  setFlagsFromString(AGENT_V8_FLAGS)
  const bundle = new URL('../bundle/agent.js', import.meta.url)
  if (existsSync(fileURLToPath(bundle))) return await import(bundle.href) as AgentModules
  return await import('./agent-main.js')
}
