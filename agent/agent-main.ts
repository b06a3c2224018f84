/**
 * What the `ovnet agent` command runs, as one module: its configuration loader and the daemon.
 * The build bundles this module and everything it imports into dist/bundle/agent.js
 * (scripts/bundle.mjs); agent/agent-loader.ts loads that bundle, or this module when there is none.
 */
export { loadAgentConfig } from './config.js'
export { AgentInterruptedError, runAgent } from './daemon.js'
