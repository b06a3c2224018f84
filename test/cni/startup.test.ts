/**
 * `ovnet-cni` runs on every container start and stop: its module graph must stay node builtins
 * plus small local modules (no agent stack: agent/index.ts, NetworkDB, libp2p, pino, lmdb, zod).
 * Read from the sources' runtime imports (type-only imports are erased by the compiler), then the
 * real bin over a real unix socket: an agent stand-in serving the control API, and no agent.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { ApiServer } from '../../agent/api-server.js'
import type { AttachmentView, AttachRequest, ControlHandlers, DetachRequest } from '../../agent/api-types.js'
import { ErrNoSuchEndpoint, ErrNoSuchNetwork } from '../../agent/errors.js'
import { silentLogger } from '../../core/index.js'
import { CNI_BIN } from './lab-podman.js'

const run = promisify(execFile)
const REPO = fileURLToPath(new URL('../../', import.meta.url))
/** What the plugin may load besides node builtins. */
const ALLOWED = /^agent\/(cni\/[a-z-]+|api-client)\.ts$/

/** Runtime import specifiers of a TypeScript source (not `import type`, not `export type`). */
function runtimeImports (src: string): string[] {
  const out: string[] = []
  const re = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm
  for (const m of src.matchAll(re)) out.push((m[1] ?? m[2])!)
  return out
}

describe('ovnet-cni start-up', () => {
  it('loads only node builtins, agent/cni/* and agent/api-client.ts', async () => {
    const seen = new Set<string>()
    const todo = [join(REPO, 'agent', 'cni', 'main.ts')]
    const bad: string[] = []
    while (todo.length > 0) {
      const file = todo.pop()!
      const rel = relative(REPO, file)
      if (seen.has(rel)) continue
      seen.add(rel)
      if (!ALLOWED.test(rel)) bad.push(rel)
      for (const spec of runtimeImports(await readFile(file, 'utf8'))) {
        if (spec.startsWith('node:')) continue
        if (!spec.startsWith('.')) { bad.push(`${rel} imports package ${spec}`); continue }
        todo.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
      }
    }
    assert.deepEqual(bad, [])
    assert.ok(seen.has('agent/api-client.ts') && seen.has('agent/cni/commands.ts'), [...seen].join(', '))
  })

  it('the check itself catches a package import and a type import is not one', () => {
    assert.deepEqual(runtimeImports("import { z } from 'zod'\nimport type { X } from '../api-types.js'\nexport { a } from './a.js'\nawait import('./netns-check.js')"),
      ['zod', './a.js', './netns-check.js'])
  })

  describe('the bin over a real socket', function () {
    this.timeout(60_000)
    let dir: string
    let server: ApiServer | undefined
    const attached: AttachRequest[] = []
    const detached: DetachRequest[] = []

    before(async () => {
      await run('ip', ['netns', 'add', otherNsName])
      dir = await mkdtemp(join(tmpdir(), 'ovnet-cni-'))
      // A stand-in agent: the control API's real server and router, handlers keeping what they got.
      const handlers: Partial<ControlHandlers> = {
        attach: async (network, req) => {
          if (network !== 'red') throw new ErrNoSuchNetwork(network)
          attached.push(req)
          return { EndpointID: 'e1', IPv4Address: '10.7.0.2/24', MacAddress: '02:42:0a:07:00:02', Gateway: '10.7.0.1' }
        },
        detach: async (_network, req) => {
          detached.push(req)
          if (req.ContainerID !== 'c1') throw new ErrNoSuchEndpoint(req.ContainerID ?? '')
        },
        attachments: async (): Promise<AttachmentView[]> => []
      }
      server = new ApiServer(handlers as ControlHandlers, { socketPath: join(dir, 'agent.sock'), logger: silentLogger, info: { Name: 'stand-in', Version: '0' } })
      await server.listen()
    })

    after(async () => {
      await run('ip', ['netns', 'del', otherNsName]).catch(() => {})
      await server?.close()
      await rm(dir, { recursive: true, force: true })
    })

    async function bin (env: Record<string, string>, conf: Record<string, unknown>): Promise<{ code: number, out: Record<string, unknown> | undefined }> {
      return await new Promise(resolveRun => {
        const child = execFile(process.execPath, [CNI_BIN], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout) => {
          const code = err === null ? 0 : (err as { code?: number }).code ?? 1
          resolveRun({ code, out: stdout.trim() === '' ? undefined : JSON.parse(stdout) as Record<string, unknown> })
        })
        child.stdin!.end(JSON.stringify(conf))
      })
    }

    const conf = (socket: string, network = 'red'): Record<string, unknown> => ({ cniVersion: '1.0.0', name: 'n1', type: 'ovnet', network, socket })
    // The plugin's own namespace is refused, and the control API takes only /run/netns names or
    // /proc/PID/ns/net paths: a namespace of the test's own.
    const otherNsName = `cnist${randomBytes(3).toString('hex')}`
    const otherNs = `/run/netns/${otherNsName}`

    it('ADD and DEL reach the agent, exit 0; an unknown network is code 7 with exit 1', async () => {
      const sock = join(dir, 'agent.sock')
      const add = await bin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: otherNs, CNI_IFNAME: 'eth0' }, conf(sock))
      assert.equal(add.code, 0, JSON.stringify(add.out))
      assert.equal((add.out?.ips as Array<{ address: string }>)[0]!.address, '10.7.0.2/24')
      assert.equal(attached[0]?.ContainerID, 'c1')
      for (const id of ['c1', 'c-gone']) {
        const del = await bin({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: id, CNI_IFNAME: 'eth0' }, conf(sock))
        assert.equal(del.code, 0, id)
        assert.equal(del.out, undefined)
      }
      assert.deepEqual(detached.map(d => d.ContainerID), ['c1', 'c-gone'])
      const unknown = await bin({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c2', CNI_NETNS: otherNs, CNI_IFNAME: 'eth0' }, conf(sock, 'blue'))
      assert.equal(unknown.code, 1)
      assert.equal(unknown.out?.code, 7)
    })

    it('no agent on the socket: ADD and DEL are code 11 (try again later), STATUS is 50', async () => {
      const sock = join(dir, `none-${randomBytes(3).toString('hex')}.sock`)
      for (const command of ['ADD', 'DEL']) {
        const r = await bin({ CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: otherNs, CNI_IFNAME: 'eth0' }, conf(sock))
        assert.equal(r.code, 1)
        assert.equal(r.out?.code, 11, command)
        assert.equal(r.out?.cniVersion, '1.0.0')
      }
      const st = await bin({ CNI_COMMAND: 'STATUS' }, { ...conf(sock), cniVersion: '1.1.0' })
      assert.equal(st.out?.code, 50)
    })
  })
})
