/**
 * Logger port: the subset of pino's API the layers use. The agent passes a pino logger; tests
 * pass `silentLogger` or a `memoryLogger` to assert on lines.
 */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
  child(bindings: Record<string, unknown>): Logger
}

export const silentLogger: Logger = {
  debug () {},
  info () {},
  warn () {},
  error () {},
  child () { return silentLogger }
}

export interface LogLine { level: 'debug' | 'info' | 'warn' | 'error', msg: string | undefined, obj: object }

/** Keeps lines in memory; for tests that assert a drop or a rejection was logged. */
export function memoryLogger (
  lines: LogLine[] = [], bindings: Record<string, unknown> = {}
): Logger & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => {
    lines.push({ level, msg, obj: { ...bindings, ...obj } })
  }
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (b) => memoryLogger(lines, { ...bindings, ...b })
  }
}
