/** The agent layer's public surface: daemon lifecycle, control API contract, client, errors. */
export * from './api-types.js'
export * from './errors.js'
export { ApiServer, type ApiServerOptions } from './api-server.js'
export { ApiClient, ApiError, AgentUnavailableError, DEFAULT_SOCKET } from './api-client.js'
export {
  loadAgentConfig, ConfigError, formatHostPort, parseHostPort, AGENT_DEFAULTS, type AgentConfig, type AgentFlags,
  type HostPort, type LogLevel
} from './config.js'
export {
  runAgent, createController, AgentInterruptedError,
  type AgentContext, type AgentController, type AgentHandle, type ControllerFactory, type RunAgentOptions
} from './daemon.js'
export { IcmpProber, PeerHealthMonitor, type PeerHealth, type Prober, type PeerProbeResult } from './icmp.js'
export { createLogger, type AgentLogger } from './logging.js'
export { PromMetrics, startMetricsServer, type MetricsServer } from './metrics.js'
export { OVNET_VERSION } from './version.js'
export { table } from './cli-format.js'
export { packageRoot } from './package-root.js'
