/** The ovnet version: package.json's, read once (the CLI and the agent's /v1/ping report it). */
import { packageJson } from './package-root.js'

export const OVNET_VERSION: string = packageJson(import.meta.url).version
