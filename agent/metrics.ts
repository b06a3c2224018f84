/**
 * Prometheus metrics: the Metrics port (core/metrics.ts) backed by a prom-client registry
 * of the agent's own (not prom-client's global one, so tests and several agents in one process do
 * not collide), and the HTTP server answering GET /metrics on `--metrics ADDR:PORT`.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry, collectDefaultMetrics
} from 'prom-client'
import type { Counter, Gauge, Histogram, Labels, Metrics, Logger } from '../core/index.js'
import { formatHostPort, type HostPort } from './config.js'

export class PromMetrics implements Metrics {
  readonly registry = new Registry()

  constructor (opts: { defaultMetrics?: boolean } = {}) {
    // Process metrics (CPU, memory, event-loop lag) come free and explain most "agent is slow" reports.
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'ovnet_' })
  }

  /**
   * Registering a name twice returns the first metric: several instances of a subsystem (one per
   * network) share a series and tell themselves apart by labels. A name registered as the other
   * type is a programming error and throws.
   */
  counter (name: string, help: string, labelNames: readonly string[] = []): Counter {
    const existing = this.registry.getSingleMetric(name)
    const c = existing ?? new PromCounter({ name, help, labelNames: [...labelNames], registers: [this.registry] })
    if (!(c instanceof PromCounter)) throw new TypeError(`metric ${name} is already registered as another type`)
    return {
      inc: (labels?: Labels, by = 1) => { if (labels === undefined) c.inc(by); else c.inc(labels, by) }
    }
  }

  gauge (name: string, help: string, labelNames: readonly string[] = []): Gauge {
    const existing = this.registry.getSingleMetric(name)
    const g = existing ?? new PromGauge({ name, help, labelNames: [...labelNames], registers: [this.registry] })
    if (!(g instanceof PromGauge)) throw new TypeError(`metric ${name} is already registered as another type`)
    return {
      set: (labels: Labels, value: number) => { g.set(labels, value) }
    }
  }

  histogram (name: string, help: string, buckets: readonly number[], labelNames: readonly string[] = []): Histogram {
    const existing = this.registry.getSingleMetric(name)
    const h = existing ?? new PromHistogram({
      name, help, buckets: [...buckets], labelNames: [...labelNames], registers: [this.registry]
    })
    if (!(h instanceof PromHistogram)) throw new TypeError(`metric ${name} is already registered as another type`)
    return {
      observe: (labels: Labels, value: number) => { h.observe(labels, value) }
    }
  }

  async text (): Promise<string> { return await this.registry.metrics() }
}

export interface MetricsServer {
  /** The bound address (the port is the real one when 0 was asked). */
  address: HostPort
  close(): Promise<void>
}

export async function startMetricsServer (metrics: PromMetrics, at: HostPort, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n')
      return
    }
    metrics.text().then(body => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body)
    }, (err: unknown) => {
      logger.error({ err }, 'metrics collection failed')
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(at.port, at.host, () => { server.off('error', reject); resolve() })
  })
  const bound = server.address() as AddressInfo
  const address = { host: at.host, port: bound.port }
  logger.info({ metrics: formatHostPort(address) }, 'metrics server listening')
  return {
    address,
    close: async () => {
      const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
      server.closeAllConnections()
      await closed
    }
  }
}
