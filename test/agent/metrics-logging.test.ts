import assert from 'node:assert/strict'
import { PromMetrics } from '../../agent/metrics.js'
import { createLogger } from '../../agent/logging.js'

describe('agent metrics (prom-client behind the Metrics port)', function () {
  it('exports counters and gauges with labels in the Prometheus text format', async () => {
    const m = new PromMetrics({ defaultMetrics: false })
    const c = m.counter('ovnet_test_messages_total', 'messages', ['dir'])
    c.inc({ dir: 'in' })
    c.inc({ dir: 'in' }, 2)
    m.counter('ovnet_test_plain_total', 'no labels').inc()
    m.gauge('ovnet_test_members', 'members by state', ['state']).set({ state: 'alive' }, 3)
    const text = await m.text()
    assert.match(text, /^ovnet_test_messages_total\{dir="in"\} 3$/m)
    assert.match(text, /^ovnet_test_plain_total 1$/m)
    assert.match(text, /^ovnet_test_members\{state="alive"\} 3$/m)
    assert.match(text, /^# HELP ovnet_test_members members by state$/m)
  })

  it('registering a name again shares the series; as another type it throws', async () => {
    const m = new PromMetrics({ defaultMetrics: false })
    m.counter('ovnet_test_shared_total', 'x', ['n']).inc({ n: 'a' })
    m.counter('ovnet_test_shared_total', 'x', ['n']).inc({ n: 'a' })
    assert.match(await m.text(), /^ovnet_test_shared_total\{n="a"\} 2$/m)
    assert.throws(() => m.gauge('ovnet_test_shared_total', 'x'), /already registered as another type/)
  })

  it('two registries do not collide (two agents in one process)', async () => {
    const a = new PromMetrics({ defaultMetrics: true })
    const b = new PromMetrics({ defaultMetrics: true })
    a.counter('ovnet_test_dup_total', 'x').inc()
    b.counter('ovnet_test_dup_total', 'x').inc()
    b.counter('ovnet_test_dup_total', 'x').inc()
    const [ta, tb] = [await a.text(), await b.text()]
    assert.match(ta, /^ovnet_test_dup_total 1$/m)
    assert.match(tb, /^ovnet_test_dup_total 2$/m)
    // each registry has its own copy of the default process metrics
    for (const t of [ta, tb]) assert.match(t, /^# TYPE ovnet_process_cpu_user_seconds_total counter$/m)
  })
})

describe('agent logging (pino JSON lines behind the Logger port)', function () {
  it('writes one JSON object per line with level, ISO time, node, bindings and serialized errors', () => {
    const out: string[] = []
    const log = createLogger({ level: 'info', node: 'h1', destination: { write: (s: string) => { out.push(s) } } })
    log.debug({ hidden: true }, 'below the level')
    log.child({ component: 'api' }).warn({ err: new Error('boom'), peer: 'x' }, 'it broke')
    log.flush()
    assert.equal(out.length, 1)
    assert.ok(out[0]!.endsWith('\n'))
    const line = JSON.parse(out[0]!) as Record<string, unknown>
    assert.equal(line.level, 40)
    assert.equal(line.msg, 'it broke')
    assert.equal(line.node, 'h1')
    assert.equal(line.component, 'api')
    assert.equal(line.peer, 'x')
    assert.ok(!Number.isNaN(Date.parse(String(line.time))))
    assert.deepEqual([(line.err as { type: string }).type, (line.err as { message: string }).message], ['Error', 'boom'])
  })
})
