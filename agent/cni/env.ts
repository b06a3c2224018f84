/**
 * The CNI_* environment of one invocation (SPEC.md section 2, "Parameters"), checked as
 * containernetworking/cni's skel checks it: every missing required variable is named in one
 * code-4 error; a container id or interface name breaking the spec's rules is a code-4 error too.
 * CNI_PATH is not required: ovnet delegates to no other plugin.
 */
import { CniError, ErrorCode } from './protocol.js'
import { CNI_NAME_RE } from './config.js'

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION'
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION']

export interface CmdArgs {
  command: CniCommand
  containerId: string
  netns: string
  ifName: string
  /** CNI_ARGS as key/value pairs ("FOO=BAR;ABC=123"). */
  args: Map<string, string>
}

type Env = Record<string, string | undefined>

const REQUIRED: Record<CniCommand, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  STATUS: [],
  GC: [],
  VERSION: []
}

/** Linux interface names: 1-15 bytes, not "." or "..", no "/", ":" or white space. */
export function interfaceNameError (name: string): string | undefined {
  if (name === '') return 'interface name is empty'
  if (Buffer.byteLength(name) > 15) return 'interface name is too long (at most 15 characters)'
  if (name === '.' || name === '..') return 'interface name is . or ..'
  if (/[/:\s]/.test(name)) return 'interface name contains / or : or whitespace characters'
  return undefined
}

export function parseEnv (env: Env): CmdArgs {
  const command = env.CNI_COMMAND ?? ''
  if (command === '') throw new CniError(ErrorCode.invalidEnv, 'required env variables [CNI_COMMAND] missing')
  if (!COMMANDS.includes(command)) throw new CniError(ErrorCode.invalidEnv, `unknown CNI_COMMAND: ${command}`)
  const cmd = command as CniCommand
  const missing = REQUIRED[cmd].filter(v => (env[v] ?? '') === '')
  if (missing.length > 0) {
    throw new CniError(ErrorCode.invalidEnv, `required env variables [${missing.join(',')}] missing`)
  }
  const containerId = env.CNI_CONTAINERID ?? ''
  const ifName = env.CNI_IFNAME ?? ''
  if (REQUIRED[cmd].includes('CNI_CONTAINERID') && !CNI_NAME_RE.test(containerId)) {
    throw new CniError(ErrorCode.invalidEnv, 'invalid characters in CNI_CONTAINERID', containerId)
  }
  if (REQUIRED[cmd].includes('CNI_IFNAME')) {
    const why = interfaceNameError(ifName)
    if (why !== undefined) throw new CniError(ErrorCode.invalidEnv, `invalid CNI_IFNAME: ${why}`, ifName)
  }
  return { command: cmd, containerId, netns: env.CNI_NETNS ?? '', ifName, args: parseCniArgs(env.CNI_ARGS ?? '') }
}

/** "A=1;B=2" → {A: 1, B: 2}; a pair without "=" is a code-4 error (as libcni's parser). */
export function parseCniArgs (text: string): Map<string, string> {
  const out = new Map<string, string>()
  if (text === '') return out
  for (const pair of text.split(';')) {
    if (pair === '') continue
    const i = pair.indexOf('=')
    if (i <= 0) throw new CniError(ErrorCode.invalidEnv, `invalid CNI_ARGS pair "${pair}"`)
    out.set(pair.slice(0, i), pair.slice(i + 1))
  }
  return out
}
