/** The CNI plugin (`ovnet-cni`): its entry, protocol data and commands, for the bin, tests and docs. */
export { main, defaultDeps, ABOUT, type DepsFactory, type Output } from './main.js'
export {
  cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, endpointName, agentError, type AgentPort, type CommandDeps
} from './commands.js'
export { parseNetConf, decodeJson, versionOf, DEFAULT_SOCKET, type NetConf } from './config.js'
export { parseEnv, parseCniArgs, interfaceNameError, type CmdArgs, type CniCommand } from './env.js'
export { IprouteNetnsInspector, type NetnsInspector, type NetnsView } from './netns-check.js'
export * from './protocol.js'
