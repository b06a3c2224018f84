import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { ApiClient } from '../../agent/api-client.js'
import { ApiServer } from '../../agent/api-server.js'
import { loadAgentConfig, type AgentConfig } from '../../agent/config.js'
import { runAgent, type AgentHandle } from '../../agent/daemon.js'
import type { Prober } from '../../agent/icmp.js'
import { SocketInUseError } from '../../agent/unix-socket.js'
import { generateClusterKey } from '../../networkdb/index.js'
import { memoryLogger } from '../../core/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { REPO, tempDir, waitFor } from './helpers.js'

/** Collects pino's output lines. */
function lineSink (): { write: (s: string) => void, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  return { lines, write: (s: string) => { for (const l of s.split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>) } }
}

const quietProber: Prober = { probe: async () => 0.1, close: () => {} }

async function portOpen (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

describe('agent daemon lifecycle (fixture controller)', function () {
  this.timeout(30_000)
  let dir: string
  let cleanup: () => Promise<void>
  let key: string
  let handle: AgentHandle | undefined

  before(async () => {
    ({ dir, cleanup } = await tempDir('ovnet-daemon-'))
    key = join(dir, 'cluster.key')
    await generateClusterKey(key)
  })
  afterEach(async () => { await handle?.shutdown('test end'); handle = undefined })
  after(async () => { await cleanup() })

  async function config (name: string, extra: Record<string, string> = {}): Promise<AgentConfig> {
    return await loadAgentConfig({ name, clusterKey: key, dataDir: join(dir, name, 'data'), socket: join(dir, `${name}.sock`), ...extra }, { cwd: dir })
  }

  it('starts logger, data dir, metrics, controller and API; shuts down in reverse order', async () => {
    const cfg = await config('a1', { metrics: '127.0.0.1:0', logLevel: 'debug' })
    const ctl = new FixtureController('a1')
    const sink = lineSink()
    handle = await runAgent(cfg, { createController: async () => ctl, handleSignals: false, logDestination: sink, prober: quietProber })

    assert.equal((await stat(cfg.dataDir)).mode & 0o777, 0o700)
    assert.equal((await stat(cfg.socket)).mode & 0o777, 0o660)
    assert.deepEqual(await new ApiClient(cfg.socket).ping(), { Name: 'a1', Version: '0.1.0' })
    assert.equal((await new ApiClient(cfg.socket).members()).length, 2)

    const port = handle.metricsAddress!.port
    const res = await fetch(`http://127.0.0.1:${port}/metrics`)
    assert.equal(res.status, 200)
    assert.match(await res.text(), /^# HELP ovnet_process_cpu_user_seconds_total/m)
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404)

    const msgs = sink.lines.map(l => l.msg)
    assert.ok(msgs.includes('agent starting') && msgs.includes('agent ready'))
    assert.ok(sink.lines.every(l => l.node === 'a1' && typeof l.time === 'string'))

    await handle.shutdown('test')
    assert.equal(await handle.done, true)
    handle = undefined
    assert.equal(ctl.stopped, 1)
    await assert.rejects(stat(cfg.socket), { code: 'ENOENT' })
    assert.equal(await portOpen(port), false)
    assert.deepEqual(sink.lines.slice(-1).map(l => [l.msg, l.clean]), [['agent stopped', true]])
  })

  it('a failing controller factory undoes what had started and rethrows', async () => {
    const cfg = await config('a2', { metrics: '127.0.0.1:0' })
    const sink = lineSink()
    let closed = 0
    const prober: Prober = { probe: async () => null, close: () => { closed++ } }
    await assert.rejects(runAgent(cfg, {
      createController: async () => { throw new Error('no cluster for you') },
      handleSignals: false,
      logDestination: sink,
      prober
    }), /no cluster for you/)
    assert.equal(closed, 1, 'peer health stopped')
    await assert.rejects(stat(cfg.socket), { code: 'ENOENT' })
    const failed = sink.lines.find(l => l.msg === 'agent failed to start')
    assert.ok(failed !== undefined)
    // The metrics server was started, then closed again by the rollback.
    const started = sink.lines.find(l => l.msg === 'metrics server listening')
    const port = Number(String(started?.metrics).split(':')[1])
    assert.equal(await portOpen(port), false)
  })

  it('refuses to start when another agent holds the socket, and stops its controller again', async () => {
    const cfg = await config('a3')
    const other = new ApiServer(new FixtureController(), { socketPath: cfg.socket, logger: memoryLogger(), info: { Name: 'other', Version: '0' } })
    await other.listen()
    try {
      const ctl = new FixtureController()
      await assert.rejects(runAgent(cfg, { createController: async () => ctl, handleSignals: false, logDestination: lineSink(), prober: quietProber }), SocketInUseError)
      assert.equal(ctl.stopped, 1)
      assert.equal((await new ApiClient(cfg.socket).ping()).Name, 'other', 'the running agent is untouched')
    } finally {
      await other.close()
    }
  })

  it('reports an unclean shutdown when a step fails or hangs', async () => {
    const ctl = new FixtureController()
    ctl.stop = async () => { throw new Error('kernel said no') }
    const sink = lineSink()
    const h = await runAgent(await config('a4'), { createController: async () => ctl, handleSignals: false, logDestination: sink, prober: quietProber })
    await h.shutdown('test')
    assert.equal(await h.done, false)
    assert.ok(sink.lines.some(l => l.msg === 'shutdown step failed' && l.hook === 'controller'))

    const hung = new FixtureController()
    hung.stop = async () => await new Promise(() => {})
    const h2 = await runAgent(await config('a5'), { createController: async () => hung, handleSignals: false, logDestination: lineSink(), prober: quietProber, shutdownTimeoutMs: 200 })
    await h2.shutdown('test')
    assert.equal(await h2.done, false)
  })

  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`a real agent process shuts down gracefully on ${sig}`, async () => {
      const socket = join(dir, `sig-${sig}.sock`)
      const flags = { name: 'sig', clusterKey: key, dataDir: join(dir, `sig-${sig}`), socket, logLevel: 'warn' }
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/agent/fixtures/fixture-agent.ts'), JSON.stringify(flags)], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const exited = new Promise<number | null>(resolve => child.once('close', code => { resolve(code) }))
      try {
        await waitFor(async () => await new ApiClient(socket).ping().then(() => true, () => false), 20_000, 100)
        child.kill(sig)
        assert.equal(await exited, 0, stderr)
        assert.match(stderr, /stopped 1/)
        await assert.rejects(stat(socket), { code: 'ENOENT' })
      } finally {
        child.kill('SIGKILL')
      }
    })
  }
})
