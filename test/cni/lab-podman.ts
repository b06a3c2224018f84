/**
 * Debian's podman on a lab host, with the CNI network backend and everything of its own: storage
 * (--root, --runroot, vfs), containers.conf (CONTAINERS_CONF), file locks instead of the shared
 * /dev/shm lock segment, a CNI config dir holding one conflist of type "ovnet", and a CNI plugin
 * dir whose `ovnet` runs bin/ovnet-cni.js against this host's agent socket.
 *
 * podman runs with `nsenter --net` into the host's namespace, as the lab's agents do (see
 * deploy/lab/netns.ts spawnIn): `ip netns exec` would give it a mount namespace of its own, and
 * the container namespace it bind-mounts under /run/netns would then be invisible to the agent
 * that must plumb it — on a real host runtime and agent share the mount namespace.
 */
import { execFile } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LabHost } from '../../deploy/lab/index.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const CNI_BIN = join(REPO, 'bin', 'ovnet-cni.js')

export interface PodmanResult { code: number, stdout: string, stderr: string }

export class LabPodman {
  readonly root: string
  readonly runroot: string
  readonly confFile: string
  readonly cniConfDir: string
  readonly cniBinDir: string

  constructor (readonly host: LabHost, readonly dir: string, readonly agentSocket: string) {
    this.root = join(dir, 'root')
    this.runroot = join(dir, 'runroot')
    this.confFile = join(dir, 'containers.conf')
    this.cniConfDir = join(dir, 'cni-conf')
    this.cniBinDir = join(dir, 'cni-bin')
  }

  /** Write containers.conf, the plugin wrapper and the conflist for `cniName` → ovnet `network`. */
  async setUp (cniName: string, network: string): Promise<void> {
    for (const d of [this.root, this.runroot, this.cniConfDir, this.cniBinDir]) await mkdir(d, { recursive: true, mode: 0o700 })
    await writeFile(this.confFile, [
      '[containers]',
      // Rootful podman raises the containers' nofile limit to 1048576, above what a host (or CI
      // sandbox) may allow; the host's own limits are always possible.
      'default_ulimits = []',
      '',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(this.dir, 'events.log')}"`,
      'lock_type = "file"',
      `tmp_dir = "${join(this.runroot, 'libpod-tmp')}"`,
      'runtime = "runc"',
      '',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = ["${this.cniBinDir}"]`,
      `network_config_dir = "${this.cniConfDir}"`,
      ''
    ].join('\n'))
    // The plugin is found by its type, "ovnet"; the wrapper runs this checkout's bin.
    const wrapper = join(this.cniBinDir, 'ovnet')
    await writeFile(wrapper, `#!/bin/sh\nexec ${process.execPath} ${CNI_BIN} "$@"\n`)
    await chmod(wrapper, 0o755)
    await writeFile(join(this.cniConfDir, `${cniName}.conflist`), JSON.stringify({
      cniVersion: '1.0.0',
      name: cniName,
      // capabilities: podman's --ip and --mac reach the plugin as runtimeConfig.ips / .mac.
      plugins: [{ type: 'ovnet', network, socket: this.agentSocket, capabilities: { ips: true, mac: true } }]
    }, null, 2))
  }

  /** Run podman in the host's network namespace (never throws for a non-zero exit). */
  async run (args: readonly string[], timeoutMs = 120_000): Promise<PodmanResult> {
    const argv = [`--net=/run/netns/${this.host.ns}`, '--', 'podman', '--root', this.root, '--runroot', this.runroot, '--storage-driver', 'vfs', ...args]
    return await new Promise(resolve => {
      execFile('nsenter', argv, { env: { ...process.env, CONTAINERS_CONF: this.confFile }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
        resolve({ code, stdout, stderr })
      })
    })
  }

  async ok (args: readonly string[], timeoutMs?: number): Promise<string> {
    const r = await this.run(args, timeoutMs)
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} on ${this.host.name} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`)
    return r.stdout
  }

  /** Every container of this podman gone (force: stopped, CNI DEL run, netns removed); errors ignored. */
  async tearDown (): Promise<void> {
    await this.run(['rm', '--all', '--force', '--time', '0']).catch(() => undefined)
  }
}
