/**
 * The agent's logger: pino writing JSON lines (one object per line, `time` in ISO 8601), adapted
 * to the Logger port the layers log through (core/logger.ts). The layers never import pino.
 */
import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino'
import type { Logger } from '../core/index.js'
import type { LogLevel } from './config.js'

export interface AgentLogger extends Logger {
  /** Write out anything buffered; called last at shutdown. */
  flush(): void
}

export interface LoggerOptions {
  level: LogLevel
  /** Bound to every line, so lines of several agents (the lab) can be told apart. */
  node: string
  /** Default: stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream
}

function adapt (p: PinoLogger): AgentLogger {
  return {
    debug: (obj, msg) => { p.debug(obj, msg) },
    info: (obj, msg) => { p.info(obj, msg) },
    warn: (obj, msg) => { p.warn(obj, msg) },
    error: (obj, msg) => { p.error(obj, msg) },
    child: (bindings) => adapt(p.child(bindings)),
    flush: () => { p.flush() }
  }
}

export function createLogger (opts: LoggerOptions): AgentLogger {
  const p = pino({
    level: opts.level,
    base: { node: opts.node, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Layers log errors under `err`; pino's serializer keeps message, type and stack.
    serializers: { err: pino.stdSerializers.err }
  }, opts.destination ?? pino.destination({ dest: 1, sync: true }))
  return adapt(p)
}
