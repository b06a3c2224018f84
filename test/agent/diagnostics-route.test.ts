/**
 * GET /v1/diagnostics: NetworkDB's diagnostics through the control API (the chaos kit compares
 * the per-network digests across hosts). A controller without diagnostics answers 501.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ApiClient, ApiError } from '../../agent/api-client.js'
import { ApiServer } from '../../agent/api-server.js'
import type { DiagnosticsView } from '../../agent/api-types.js'
import { memoryLogger } from '../../core/index.js'
import { FixtureController } from './fixtures/fixture-controller.js'
import { tempDir } from './helpers.js'

const DIAG: DiagnosticsView = {
  node: { id: 'n1', name: 'host-1', advertiseAddr: '192.0.2.11', addrs: [], status: 'alive', incarnation: 1, since: 0 },
  members: [],
  networks: [{ nid: 'ovnet-global', peers: ['n1'], tables: [{ table: 'network_table', entries: 2, tombstones: 1, hidden: 0 }], digest: '0123456789abcdef-2' }],
  digest: 'fedcba9876543210-1',
  clocks: { network: 3, table: 7 }
}

class WithDiagnostics extends FixtureController {
  async diagnostics (): Promise<DiagnosticsView> { return DIAG }
}

describe('control API: GET /v1/diagnostics', function () {
  let dir: string
  let cleanup: () => Promise<void>
  const servers: ApiServer[] = []

  before(async () => { ({ dir, cleanup } = await tempDir()) })
  after(async () => {
    for (const s of servers) await s.close()
    await cleanup()
  })

  async function serve (ctl: FixtureController, name: string): Promise<ApiClient> {
    const socketPath = join(dir, `${name}.sock`)
    const s = new ApiServer(ctl, { socketPath, logger: memoryLogger(), info: { Name: 'host-1', Version: '0.0.0' } })
    await s.listen()
    servers.push(s)
    return new ApiClient(socketPath)
  }

  it('returns the controller\'s NetworkDB diagnostics unchanged', async () => {
    const client = await serve(new WithDiagnostics(), 'with')
    assert.deepEqual(await client.diagnostics(), DIAG)
  })

  it('answers 501 NotImplementedError when the controller has none', async () => {
    const client = await serve(new FixtureController(), 'without')
    await assert.rejects(client.diagnostics(), (err: unknown) => err instanceof ApiError && err.status === 501 && err.type === 'NotImplementedError')
  })
})
