/**
 * Metrics port. Layers register counters and gauges through this small interface and never import
 * prom-client; the agent adapts it to a prom-client registry. `MemoryMetrics` lets tests read values.
 */
export type Labels = Record<string, string>

export interface Counter { inc(labels?: Labels, by?: number): void }
export interface Gauge { set(labels: Labels, value: number): void }
export interface Histogram { observe(labels: Labels, value: number): void }

export interface Metrics {
  counter(name: string, help: string, labelNames?: readonly string[]): Counter
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge
  /** Optional: a registry without histograms (the in-memory one) gets none observed. */
  histogram?(name: string, help: string, buckets: readonly number[], labelNames?: readonly string[]): Histogram
}

const noopCounter: Counter = { inc () {} }
const noopGauge: Gauge = { set () {} }
export const noopMetrics: Metrics = { counter: () => noopCounter, gauge: () => noopGauge }

function keyOf (labels: Labels | undefined): string {
  if (labels === undefined) return ''
  return Object.keys(labels).sort().map(k => `${k}=${labels[k]}`).join(',')
}

/** In-memory metrics for tests: `get(name, labels)` returns the current value (0 when unset). */
export class MemoryMetrics implements Metrics {
  private readonly values = new Map<string, Map<string, number>>()

  private series (name: string): Map<string, number> {
    let s = this.values.get(name)
    if (s === undefined) { s = new Map(); this.values.set(name, s) }
    return s
  }

  counter (name: string): Counter {
    const s = this.series(name)
    return { inc: (labels, by = 1) => { const k = keyOf(labels); s.set(k, (s.get(k) ?? 0) + by) } }
  }

  gauge (name: string): Gauge {
    const s = this.series(name)
    return { set: (labels, value) => { s.set(keyOf(labels), value) } }
  }

  get (name: string, labels?: Labels): number {
    return this.values.get(name)?.get(keyOf(labels)) ?? 0
  }

  /** Sum over every label set of a metric. */
  total (name: string): number {
    let sum = 0
    for (const v of this.values.get(name)?.values() ?? []) sum += v
    return sum
  }
}
