/** The netns lab: the library behind `deploy/lab/lab.ts` and the demo, also used by tests. */
export * from './topology.js'
export {
  CommandError, exec, execIn, execOk, spawnIn, pidsIn, listNetns, listLinks, addNetns, delNetns, ip, ipBatch, type ExecResult
} from './netns.js'
export { CLUSTER_PORT, LabAgents, labWgInterface, waitReady, type LabAgentsOptions, type RunningAgent } from './agents.js'
export * from './ping-matrix.js'
