/**
 * core: the base layer every other layer may import (and which imports none of them): the ports
 * for time, logs and metrics with their test doubles, the serial task queue, the seeded random
 * generator and the poll/sleep helpers. Importing it has no side effects; the polyfill
 * (core/polyfill.ts) is loaded by the entry points, never through this index.
 */
export { type Clock, type TimerHandle, SystemClock, FakeClock, flushMicrotasks } from './clock.js'
export { type Logger, type LogLine, silentLogger, memoryLogger } from './logger.js'
export {
  type Metrics, type Counter, type Gauge, type Histogram, type Labels, noopMetrics, MemoryMetrics
} from './metrics.js'
export { SerialQueue } from './serial.js'
export { seededRandom } from './random.js'
export { sleep, pollUntil, type PollOptions } from './poll.js'
export { parseIPv4, formatIPv4, parseCidr4, cidrSpan4, ipv4Span, spansOverlap, inSubnet, macFromIPv4 } from './ipv4.js'
export { type ErrorKind, ERROR_KINDS, kindOf } from './errors.js'
