/** The netns lab: the library behind `deploy/lab/lab.ts` and the demo, also used by tests. */
export * from './topology.js'
export { CommandError, exec, execIn, execOk, spawnIn, pidsIn, listNetns, addNetns, delNetns, ip, ipBatch } from './netns.js'
export * from './ping-matrix.js'
