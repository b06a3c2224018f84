/**
 * `ovnet-cni`: the CNI plugin's entry. It runs on every container start, so it loads only node
 * builtins and small local modules — the control API client (agent/api-client.ts, node:http
 * only) and this folder — never the agent's stack (agent/index.ts, NetworkDB, libp2p, pino, lmdb,
 * zod). test/cni/startup.test.ts holds that line.
 *
 * Protocol (SPEC.md): parameters in CNI_* variables, the network config on stdin, the result or
 * a CNI error object on stdout, exit 0 on success and 1 on error.
 */
import { ApiClient } from '../api-client.js'
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, type CommandDeps } from './commands.js'
import { decodeJson, parseNetConf, versionOf } from './config.js'
import { parseEnv } from './env.js'
import { CniError, ErrorCode, errorObject, LATEST_VERSION, SUPPORTED_VERSIONS, versionResult } from './protocol.js'

type Env = Record<string, string | undefined>

export interface Output {
  write (chunk: string): unknown
}

/** How the commands reach the agent and the kernel; tests pass fakes. */
export type DepsFactory = (socket: string, command: string) => CommandDeps

const STATUS_TIMEOUT_MS = 5_000

export const defaultDeps: DepsFactory = (socket, command) => ({
  // STATUS is a readiness probe: answer quickly. ADD may wait on kernel work and cluster writes.
  agent: new ApiClient(socket, command === 'STATUS' ? { timeoutMs: STATUS_TIMEOUT_MS } : {}),
  // Loaded only by CHECK: ADD and DEL, on the container start and stop paths, do not need child_process.
  inspector: {
    inspect: async (netns, ifName) => {
      const { IprouteNetnsInspector } = await import('./netns-check.js')
      return await new IprouteNetnsInspector().inspect(netns, ifName)
    }
  }
})

export const ABOUT = 'ovnet-cni: CNI plugin attaching containers to ovnet networks (type "ovnet")'

async function readAll (stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of stdin as AsyncIterable<Buffer | string>) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  return Buffer.concat(chunks).toString('utf8')
}

/** Run one CNI invocation; resolves to the exit code. Never rejects. */
export async function main (
  argv: readonly string[], env: Env, stdin: NodeJS.ReadableStream, stdout: Output, deps: DepsFactory = defaultDeps
): Promise<number> {
  // OVNET_CNI_TIMING=1: one stderr line (CNI leaves stderr to logs) splitting the wall time into
  // process start-up and module loading (ms since the process began) and the command itself.
  const loadedMs = performance.now()
  const code = await run(argv, env, stdin, stdout, deps)
  if (env.OVNET_CNI_TIMING === '1') {
    const commandMs = performance.now() - loadedMs
    const cmd = env.CNI_COMMAND ?? ''
    const text = `started+loaded ${loadedMs.toFixed(1)} ms, command ${commandMs.toFixed(1)} ms, exit ${code}`
    process.stderr.write(`ovnet-cni: ${cmd} ${text}\n`)
  }
  return code
}

async function run (
  argv: readonly string[], env: Env, stdin: NodeJS.ReadableStream, stdout: Output, deps: DepsFactory
): Promise<number> {
  let version = LATEST_VERSION
  const fail = (err: CniError): number => {
    stdout.write(JSON.stringify(errorObject(err, version)) + '\n')
    return 1
  }
  if ((env.CNI_COMMAND ?? '') === '') {
    // Run by hand: say what this is (as Go's skel does), and still answer in CNI's terms.
    if (argv.slice(2).some(a => a === '--help' || a === '-h' || a === '--version')) {
      stdout.write(`${ABOUT}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`)
      return 0
    }
    return fail(new CniError(ErrorCode.invalidEnv, 'required env variables [CNI_COMMAND] missing', ABOUT))
  }
  let text: string
  try {
    text = await readAll(stdin)
  } catch (err) {
    return fail(new CniError(ErrorCode.ioFailure, `error reading from stdin: ${(err as Error).message}`))
  }
  try {
    if (env.CNI_COMMAND === 'VERSION') {
      // The input is optional here and only names the version asked in.
      let asked: string | undefined
      try { asked = text.trim() === '' ? undefined : versionOf(JSON.parse(text)) } catch { asked = undefined }
      stdout.write(JSON.stringify(versionResult(asked)) + '\n')
      return 0
    }
    // Environment first (as Go's skel), but with the config's version known for the error object.
    let raw: unknown
    let decodeError: CniError | undefined
    try { raw = decodeJson(text) } catch (err) { decodeError = err as CniError }
    version = versionOf(raw)
    const args = parseEnv(env)
    if (decodeError !== undefined) throw decodeError
    const conf = parseNetConf(raw)
    const d = deps(conf.socket, args.command)
    switch (args.command) {
      case 'ADD':
        stdout.write(JSON.stringify(await cmdAdd(args, conf, d)) + '\n')
        return 0
      case 'DEL':
        await cmdDel(args, conf, d)
        return 0
      case 'CHECK':
        await cmdCheck(args, conf, d)
        return 0
      case 'STATUS':
        await cmdStatus(conf, d)
        return 0
      case 'GC':
        await cmdGc(conf, d)
        return 0
      default:
        return fail(new CniError(ErrorCode.invalidEnv, `unknown CNI_COMMAND: ${args.command}`))
    }
  } catch (err) {
    return fail(err instanceof CniError ? err : new CniError(ErrorCode.internal, (err as Error).message ?? String(err)))
  }
}
