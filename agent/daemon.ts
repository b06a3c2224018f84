/**
 * The agent's lifecycle: logger, data directory, metrics server, ICMP peer health, the controller
 * (NetworkDB + overlay driver + IPAM), the control API; then wait for SIGTERM/SIGINT and take it
 * all down in reverse order. Each step that starts something registers its shutdown hook at
 * once, so a failure half-way through start-up still undoes what was done.
 */
import { chmod, mkdir } from 'node:fs/promises'
import type { DestinationStream } from 'pino'
import type { Logger, Metrics } from '../core/index.js'
import { ApiServer } from './api-server.js'
import type { ControlHandlers } from './api-types.js'
import { formatHostPort, type AgentConfig, type HostPort } from './config.js'
import { IcmpProber, PeerHealthMonitor, type Prober } from './icmp.js'
import { createLogger, type AgentLogger } from './logging.js'
import { PromMetrics, startMetricsServer } from './metrics.js'
import { OVNET_VERSION } from './version.js'

/** What the controller is given to build itself. */
export interface AgentContext {
  config: AgentConfig
  logger: Logger
  metrics: Metrics
  /**
   * Underlay health of the peers. The controller keeps its peer set current (`setPeers` with
   * the members' advertise addresses on every membership change) and reads `rtt(ip)` for
   * `cluster members` and the Peers of `inspect --verbose`.
   */
  health: PeerHealthMonitor
  version: string
}

/** The controller as the daemon sees it: the API's handlers plus a graceful stop. */
export interface AgentController extends ControlHandlers {
  /** SIGTERM: leave the cluster gracefully, remove this host's kernel objects, close stores. */
  stop(): Promise<void>
}

export type ControllerFactory = (ctx: AgentContext) => Promise<AgentController>


/** The real controller: NetworkDB + IPAM + overlay driver (agent/compose.ts). */
export const createController: ControllerFactory = async (ctx) => {
  const { createRealController } = await import('./compose.js')
  return await createRealController(ctx)
}

export interface RunAgentOptions {
  /** Default: `createController` above. */
  createController?: ControllerFactory
  /** Install SIGTERM/SIGINT handlers (default true; in-process tests say false). */
  handleSignals?: boolean
  /** Log sink (default stdout). */
  logDestination?: DestinationStream
  /** ICMP prober (default: a raw-socket IcmpProber). */
  prober?: Prober
  /** Give up waiting for the hooks after this and exit anyway (default 30 s). */
  shutdownTimeoutMs?: number
}

export interface AgentHandle {
  readonly config: AgentConfig
  readonly logger: Logger
  /** Bound metrics address (when `--metrics` is set), with the real port if 0 was asked. */
  readonly metricsAddress: HostPort | undefined
  /** Run the shutdown hooks once; later calls return the same promise. */
  shutdown(reason: string): Promise<void>
  /** Settles when shutdown has finished: true when every hook succeeded in time. */
  readonly done: Promise<boolean>
}

/** A signal arrived during start-up; what had started has been stopped again. */
export class AgentInterruptedError extends Error {
  constructor (readonly signal: string) {
    super(`agent start interrupted by ${signal}`)
    this.name = 'AgentInterruptedError'
  }
}

/** SIGTERM/SIGINT → `onStop`; a second signal exits at once. Returns the remover. */
function installSignalHandlers (logger: AgentLogger, onStop: (sig: NodeJS.Signals) => void): () => void {
  let signals = 0
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      // A second Ctrl-C: the operator does not want to wait for a graceful leave.
      logger.error({ signal: sig }, 'second signal: exiting without finishing shutdown')
      logger.flush()
      process.exit(130)
    }
    logger.info({ signal: sig }, 'signal received')
    onStop(sig)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  return () => { process.off('SIGTERM', onSignal); process.off('SIGINT', onSignal) }
}

interface Hook { name: string, run: () => Promise<void> | void }

class Lifecycle {
  private readonly hooks: Hook[] = []
  private stopping: Promise<boolean> | undefined
  private resolveDone!: (clean: boolean) => void
  readonly done = new Promise<boolean>(resolve => { this.resolveDone = resolve })

  constructor (private readonly logger: AgentLogger, private readonly timeoutMs: number) {}

  onShutdown (name: string, run: Hook['run']): void { this.hooks.push({ name, run }) }

  /** Hooks run last-registered first: the API closes before the controller it calls stops. */
  async shutdown (reason: string): Promise<boolean> {
    this.stopping ??= this.runHooks(reason).then(clean => { this.resolveDone(clean); return clean })
    return await this.stopping
  }

  private async runHooks (reason: string): Promise<boolean> {
    this.logger.info({ reason }, 'agent shutting down')
    let clean = true
    const all = (async () => {
      for (const hook of [...this.hooks].reverse()) {
        try {
          await hook.run()
        } catch (err) {
          clean = false
          this.logger.error({ err, hook: hook.name }, 'shutdown step failed')
        }
      }
    })()
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>(resolve => {
      timer = setTimeout(() => { resolve('timeout') }, this.timeoutMs)
    })
    const outcome = await Promise.race([all.then(() => 'ok' as const), timedOut])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      clean = false
      this.logger.error({ timeoutMs: this.timeoutMs }, 'shutdown did not finish in time; exiting anyway')
    }
    this.logger.info({ clean }, 'agent stopped')
    this.logger.flush()
    return clean
  }
}

async function ensureDataDir (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  // mkdir's mode is cut by the umask and ignored for an existing directory: the store holds the
  // node identity, so make it private either way.
  await chmod(dir, 0o700)
}

/**
 * Start the agent. Resolves once the control API is listening (the agent is ready); rejects, with
 * everything already started taken down again, if any step fails.
 */
export async function runAgent (config: AgentConfig, opts: RunAgentOptions = {}): Promise<AgentHandle> {
  const logger = createLogger({
    level: config.logLevel, node: config.name,
    ...(opts.logDestination === undefined ? {} : { destination: opts.logDestination })
  })
  const life = new Lifecycle(logger, opts.shutdownTimeoutMs ?? 30_000)
  logger.info({
    version: OVNET_VERSION,
    bind: formatHostPort(config.bind),
    advertise: config.advertise,
    join: config.join.map(formatHostPort),
    socket: config.socket,
    dataDir: config.dataDir,
    configFile: config.configFile
  }, 'agent starting')

  // Signals are handled from the first moment: one arriving during start-up stops the start at
  // the next step boundary and undoes what was started, instead of killing the process mid-way.
  let started = false
  let interruptedBy: string | undefined
  const removeSignalHandlers = (opts.handleSignals ?? true)
    ? installSignalHandlers(logger, sig => {
      if (started) void life.shutdown(sig)
      else interruptedBy = sig
    })
    : () => {}
  void life.done.then(removeSignalHandlers)
  const checkpoint = (): void => {
    if (interruptedBy !== undefined) throw new AgentInterruptedError(interruptedBy)
  }

  let metricsAddress: HostPort | undefined
  try {
    await ensureDataDir(config.dataDir)

    // Process metrics only when something can read them: their event-loop delay monitor wakes
    // the agent every 10 ms, 0.2 % of a core (docs/BENCHMARKS.md, "Session 7").
    const metrics = new PromMetrics({ defaultMetrics: config.metrics !== undefined })
    if (config.metrics !== undefined) {
      const server = await startMetricsServer(metrics, config.metrics, logger)
      metricsAddress = server.address
      life.onShutdown('metrics server', () => server.close())
    }
    checkpoint()

    let prober: Prober = opts.prober ?? new IcmpProber(logger.child({ component: 'icmp' }))
    if (prober instanceof IcmpProber) {
      try {
        prober.open()
      } catch (err) {
        // Not fatal: the overlay works without it; only RTTs show as unreachable. Logged once
        // here rather than on every probe round.
        logger.warn({ err }, 'ICMP probing unavailable (needs root or CAP_NET_RAW); peer RTT will show as unreachable')
        prober = { probe: async () => null, close: () => {} }
      }
    }
    const health = new PeerHealthMonitor(prober, { logger: logger.child({ component: 'health' }), metrics })
    health.start()
    life.onShutdown('peer health', async () => { await health.stop(); prober.close() })

    const factory = opts.createController ?? createController
    const controller = await factory({ config, logger, metrics, health, version: OVNET_VERSION })
    life.onShutdown('controller', () => controller.stop())
    checkpoint()

    const api = new ApiServer(controller, {
      socketPath: config.socket,
      socketGroup: config.socketGroup,
      logger: logger.child({ component: 'api' }),
      info: { Name: config.name, Version: OVNET_VERSION }
    })
    await api.listen()
    life.onShutdown('control API', () => api.close())
    checkpoint()
  } catch (err) {
    if (err instanceof AgentInterruptedError) {
      await life.shutdown(err.signal)
    } else {
      logger.error({ err }, 'agent failed to start')
      await life.shutdown('start-up failed')
    }
    throw err
  }
  started = true

  logger.info({ socket: config.socket }, 'agent ready')
  return {
    config,
    logger,
    metricsAddress,
    shutdown: async (reason) => { await life.shutdown(reason) },
    done: life.done
  }
}
