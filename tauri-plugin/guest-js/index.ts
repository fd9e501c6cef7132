/**
 * The JavaScript API of `tauri-plugin-wasp`: talk to wasp plugins from a
 * Tauri webview.
 *
 * Every function wraps one command of the plugin (`plugin:wasp|<name>`).
 * A failed call rejects with a {@link WaspError}: `code` is wasp's error code
 * in snake_case (`permission_denied`, `not_found`, `timeout`, ...), `message`
 * says what failed.
 *
 * Without a bundler the same functions are on `window.__TAURI_PLUGIN_WASP__`
 * (and on `window.__TAURI__.wasp` when `app.withGlobalTauri` is set): the
 * plugin injects `api-iife.js` into every page.
 *
 * @example
 * ```ts
 * import { request, listen } from 'tauri-plugin-wasp-api'
 *
 * const reply = await request<string>('echo', 'say', 'hello wasp')
 * const unlisten = await listen('counter.*', (event) => console.log(event.topic, event.payload))
 * ```
 *
 * @module
 */

import { Channel, convertFileSrc, invoke, type InvokeArgs, type InvokeOptions } from '@tauri-apps/api/core'
import { listen as listenEvent } from '@tauri-apps/api/event'

/** The life-cycle state of a loaded plugin. */
export type PluginState = 'running' | 'restarting' | 'quarantined' | 'unknown'

/** A plugin's counters, as `plugins()` reports them. */
export interface PluginMetrics {
  /** Messages waiting in its mailbox. */
  queued: number
  /** Messages it has handled. */
  handled: number
  /** Traps, panics and other faults. */
  faults: number
  /** Times it was restarted after a fault. */
  restarts: number
  /** Messages refused (mailbox full, quarantined, ...). */
  refused: number
  /** Requests whose deadline passed before they were handled. */
  expired: number
  /** Calls refused for want of a permission. */
  denied: number
  /** Limit violations (CPU budget, memory, ...). */
  violations: number
  /** Events dropped. */
  dropped: number
  /** CPU time spent in the plugin, in microseconds. */
  busyMicros: number
  /** Memory it holds now, in bytes. */
  memoryBytes: number
  /** The most memory it has held, in bytes. */
  memoryPeakBytes: number
}

/** One loaded plugin, as `plugins()` reports it. */
export interface PluginEntry {
  /** Its name (the address requests are sent to). */
  name: string
  /** How it runs: WASM, native library or in process. */
  kind: string
  /** The version its manifest declares. */
  version: string
  /** Its life-cycle state. */
  state: PluginState
  /** Why it is quarantined, when it is. */
  quarantineReason: string | null
  /** The permissions it holds. */
  permissions: string[]
  /** Whether its manifest declares a UI panel (see {@link mountPanel}). */
  hasUi: boolean
  /** Its counters. */
  metrics: PluginMetrics
}

/** What `load` and `reload` report about the plugin they loaded. */
export interface Loaded {
  /** The plugin's name. */
  name: string
  /** How it runs. */
  kind: string
  /** The permissions it asked for and was granted. */
  granted: string[]
  /** The permissions it asked for and was refused. */
  refused: string[]
  /** Its components (a hybrid plugin has more than one). */
  components: string[]
}

/** A permission a plugin asked for that the host's policy left undecided. */
export interface PermissionAsk {
  /** The id to answer it with (see {@link answerPermission}). */
  id: number
  /** The plugin asking. */
  plugin: string
  /** Its version. */
  version: string
  /** The permission, e.g. `storage` or `net:example.com`. */
  permission: string
  /** What the permission lets the plugin do, when known. */
  description: string | null
  /** Who the plugin is: `blake3:…` (its code's hash) or `ed25519:…` (the trusted publisher that signed it). */
  identity: string
  /** The trusted publisher key that signed its bundle, if one did. */
  publisher: string | null
  /** Set when a plugin of this name loaded before with other code: the identity it had then ("changed since you allowed it"). */
  previousIdentity: string | null
}

/**
 * A plugin folder that did not load when the app started, or a plugin
 * directory that could not be read (see {@link loadFailures}).
 */
export interface LoadFailure {
  /** The plugin folder, or the directory that could not be read. */
  path: string
  /** The stable error code: `not_found`, `permission_denied`, `invalid_argument`, `unavailable`, ... */
  code: string
  /** What went wrong, for people. */
  message: string
}

/** One recent audit event of the host. */
export interface AuditEntry {
  /** The plugin it concerns. */
  plugin: string
  /** What kind of event it is: `{ type: 'permission_denied', permission }`, `{ type: 'fault', code }`, … */
  kind: { type: string; [field: string]: unknown }
  /** What happened. */
  message: string
  /** When, in milliseconds since 1970-01-01 UTC. */
  at: number
}

/** An event delivered to a {@link listen} handler. */
export interface WaspEvent<T = unknown> {
  /** The subscription that matched it. */
  subscription: number
  /** The topic it was published on. */
  topic: string
  /** The plugin (or host) that published it. */
  from: string
  /** Its payload, converted from MessagePack. */
  payload: T
}

/** Options of a request. */
export interface RequestOptions {
  /** How long to wait for the reply, in milliseconds (the host's default when absent). */
  timeoutMs?: number
  /**
   * Cancels the request when aborted: it rejects with code `cancelled`; a
   * request still queued never runs, and a plugin that has it already is
   * told (`wasp.cancel`).
   */
  signal?: AbortSignal
}

/** A plugin's call of a function this page serves ({@link serve}). */
export interface ServedCall<T = unknown> {
  /** The function called. */
  function: string
  /** The calling plugin. */
  plugin: string
  /** Its payload, converted from MessagePack. */
  payload: T
  /** Aborted when the plugin stops waiting (its timeout, or it stopped). */
  signal: AbortSignal
}

/** Options of {@link mountPanel}. */
export interface MountOptions {
  /** The iframe's id; `panel-<plugin>-frame` when absent. */
  id?: string
  /** The page of the panel to load; `index.html` when absent. */
  path?: string
}

/** A panel mounted by {@link mountPanel}. */
export interface MountedPanel {
  /** The sandboxed iframe holding the panel. */
  iframe: HTMLIFrameElement
  /** Removes the iframe, stops the bridge and drops the panel's subscriptions. */
  destroy(): Promise<void>
}

/** Stops what `listen` or `onPermissionAsk` started. Calling it again does nothing. */
export type UnlistenFn = () => Promise<void>

/**
 * The error every call rejects with.
 *
 * `code` is one of wasp's error codes in snake_case, or one of the plugin's
 * own (`not_loaded`, `already_loaded`, `invalid_payload`,
 * `outside_plugin_dirs`, `unsupported`, `internal`). `ipc` means Tauri
 * refused the call before it reached wasp (a command the capability does not
 * allow, arguments that do not deserialize), with Tauri's message.
 */
export class WaspError extends Error {
  /** The error code. */
  readonly code: string

  /** An error with this code and message. */
  constructor(code: string, message: string) {
    super(message)
    this.name = 'WaspError'
    this.code = code
  }

  /** `{code, message}`: what JSON and postMessage carry. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message }
  }
}

/** Any rejection as a WaspError; the plugin's errors arrive as `{code, message}`. */
function toWaspError(error: unknown): WaspError {
  if (error instanceof WaspError) {
    return error
  }
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown }
    if (typeof code === 'string') {
      return new WaspError(code, typeof message === 'string' ? message : code)
    }
    if (typeof message === 'string') {
      return new WaspError('ipc', message)
    }
  }
  return new WaspError('ipc', String(error))
}

async function call<T>(cmd: string, args?: InvokeArgs, options?: InvokeOptions): Promise<T> {
  try {
    return await invoke<T>(cmd, args, options)
  } catch (error) {
    throw toWaspError(error)
  }
}

/** A raw reply as bytes: an ArrayBuffer through the IPC protocol, an array of numbers through its fallback. */
function toBytes(reply: unknown): Uint8Array {
  if (reply instanceof ArrayBuffer) {
    return new Uint8Array(reply)
  }
  if (ArrayBuffer.isView(reply)) {
    return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength)
  }
  if (Array.isArray(reply)) {
    return Uint8Array.from(reply as number[])
  }
  if (reply === null || reply === undefined) {
    return new Uint8Array(0)
  }
  throw new WaspError('invalid_message', `a raw reply must be bytes, not ${typeof reply}`)
}

/**
 * Sends a request to plugin `to` on `topic` and waits for its reply.
 *
 * `payload` is converted to MessagePack (absent: nil); the reply is converted back.
 *
 * @example
 * ```ts
 * const value = await request<number>('counter', 'add', 1)
 * ```
 */
export async function request<T = unknown>(
  to: string,
  topic: string,
  payload?: unknown,
  options: RequestOptions = {}
): Promise<T> {
  return await cancellable(options.signal, (cancel) =>
    call<T>('plugin:wasp|request', {
      to,
      topic,
      payload,
      timeoutMs: options.timeoutMs,
      ...(cancel === undefined ? {} : { cancel })
    })
  )
}

/**
 * Like {@link request}, with the payload and the reply as MessagePack bytes,
 * passed as the raw IPC body (no JSON on the way).
 */
export async function requestRaw(
  to: string,
  topic: string,
  bytes: Uint8Array,
  options: RequestOptions = {}
): Promise<Uint8Array> {
  return await cancellable(options.signal, async (cancel) => {
    const headers: Record<string, string> = { 'wasp-to': to, 'wasp-topic': topic }
    if (options.timeoutMs !== undefined) {
      headers['wasp-timeout-ms'] = String(options.timeoutMs)
    }
    if (cancel !== undefined) {
      headers['wasp-cancel'] = cancel
    }
    return toBytes(await call<unknown>('plugin:wasp|request', bytes, { headers }))
  })
}

/** A ticket nobody else can guess: 128 random bits, in hex. */
function ticket(): string {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Runs `send` with a cancel ticket when there is a `signal`: aborting it
 * sends `cancel` with the ticket, and the request rejects with `cancelled`.
 */
async function cancellable<T>(signal: AbortSignal | undefined, send: (cancel?: string) => Promise<T>): Promise<T> {
  if (signal === undefined) {
    return await send()
  }
  if (signal.aborted) {
    throw new WaspError('cancelled', 'the request was cancelled before it was sent')
  }
  const cancel = ticket()
  const onAbort = (): void => {
    call<null>('plugin:wasp|cancel', { ticket: cancel }).catch(() => undefined)
  }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await send(cancel)
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** What the host sends a page serving functions. */
type ServedMessage =
  | { kind: 'call'; id: number; function: string; plugin: string; payload: unknown }
  | { kind: 'cancel'; id: number }

/**
 * Offers `fn` to plugins: a plugin holding `call:<fn>` calls it with a
 * request to `host` on topic `fn`, and `handler`'s result (JSON, converted
 * to MessagePack) is its answer; a thrown error answers with code `plugin`
 * and the error's message. `call.signal` aborts when the plugin stops
 * waiting. Needs the `wasp:serve` permission. Resolves once the function is
 * offered, to a function that withdraws it (a page that reloads or closes
 * withdraws its functions too).
 *
 * @example
 * ```ts
 * await serve('files.pick', async ({ plugin }) => {
 *   const file = await askTheUser(`${plugin} wants a file`)
 *   return { name: file.name, text: await file.text() }
 * })
 * ```
 */
export async function serve<T = unknown>(
  fn: string,
  handler: (call: ServedCall<T>) => unknown | Promise<unknown>
): Promise<UnlistenFn> {
  const running = new Map<number, AbortController>()
  const channel = new Channel<ServedMessage>((message) => {
    if (message.kind === 'cancel') {
      running.get(message.id)?.abort()
      running.delete(message.id)
      return
    }
    const controller = new AbortController()
    running.set(message.id, controller)
    const served: ServedCall<T> = {
      function: message.function,
      plugin: message.plugin,
      payload: message.payload as T,
      signal: controller.signal
    }
    Promise.resolve()
      .then(() => handler(served))
      .then(
        (payload) => call<null>('plugin:wasp|answer', { id: message.id, payload: payload ?? null }),
        (error: unknown) =>
          call<null>('plugin:wasp|answer', {
            id: message.id,
            error: error instanceof Error ? error.message : String(error)
          })
      )
      .catch(() => undefined)
      .finally(() => running.delete(message.id))
  })
  await call<null>('plugin:wasp|serve', { function: fn, channel })
  let withdrawn = false
  return async () => {
    if (withdrawn) {
      return
    }
    withdrawn = true
    channel.onmessage = () => undefined
    await call<null>('plugin:wasp|withdraw', { function: fn })
  }
}

/** Sends a one-way message to plugin `to` on `topic`; resolves once it is queued. */
export async function send(to: string, topic: string, payload?: unknown): Promise<void> {
  await call<null>('plugin:wasp|send', { to, topic, payload })
}

/** Like {@link send}, with the payload as MessagePack bytes. */
export async function sendRaw(to: string, topic: string, bytes: Uint8Array): Promise<void> {
  await call<null>('plugin:wasp|send', bytes, { headers: { 'wasp-to': to, 'wasp-topic': topic } })
}

/** Publishes an event on `topic` to every subscriber. */
export async function publish(topic: string, payload?: unknown): Promise<void> {
  await call<null>('plugin:wasp|publish', { topic, payload })
}

/** Like {@link publish}, with the payload as MessagePack bytes. */
export async function publishRaw(topic: string, bytes: Uint8Array): Promise<void> {
  await call<null>('plugin:wasp|publish', bytes, { headers: { 'wasp-topic': topic } })
}

/** What `subscribe` answers. */
interface Subscribed {
  id: number
}

/**
 * Subscribes to `pattern` with `handler` on a channel of its own: the channel
 * exists before the subscription, so no event arrives unheard, and its events
 * reach this page alone, in order. Resolves to the subscription id and a
 * function that stops the channel (not the subscription: see `unsubscribe`).
 */
async function subscribe<T>(
  pattern: string,
  handler: (event: WaspEvent<T>) => void,
  panel?: string
): Promise<{ id: number; stop: () => Promise<void> }> {
  const channel = new Channel<WaspEvent<T>>(handler)
  const stop = async (): Promise<void> => {
    // Later messages are dropped, and the channel's callback unregistered
    // (`cleanupCallback` is newer than some @tauri-apps/api 2 releases).
    channel.onmessage = () => undefined
    ;(channel as unknown as { cleanupCallback?: () => void }).cleanupCallback?.()
  }
  try {
    const { id } = await call<Subscribed>('plugin:wasp|subscribe', { pattern, panel, channel })
    return { id, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

async function unsubscribe(id: number): Promise<void> {
  await call<null>('plugin:wasp|unsubscribe', { id })
}

/** Listens to a Tauri event, with failures as WaspError. */
async function listenTauri<T>(event: string, handler: (payload: T) => void): Promise<() => Promise<void>> {
  try {
    const unlisten = await listenEvent<T>(event, (e) => handler(e.payload))
    return async () => {
      try {
        await unlisten()
      } catch (error) {
        throw toWaspError(error)
      }
    }
  } catch (error) {
    throw toWaspError(error)
  }
}

/**
 * Calls `handler` for every event whose topic matches `pattern` (`*` matches
 * everything, `counter.*` every topic under `counter.`).
 *
 * Resolves once the subscription is in place, to a function that ends it.
 */
export async function listen<T = unknown>(
  pattern: string,
  handler: (event: WaspEvent<T>) => void
): Promise<UnlistenFn> {
  const { id, stop: stopListening } = await subscribe(pattern, handler)
  let stopped = false
  return async () => {
    if (stopped) {
      return
    }
    stopped = true
    await stopListening()
    await unsubscribe(id)
  }
}

/** Every loaded plugin with its state and counters. */
export async function plugins(): Promise<PluginEntry[]> {
  return await call<PluginEntry[]>('plugin:wasp|plugins')
}

/**
 * The plugin folders that failed to load when the app started (autoload) and
 * the plugin directories that could not be read, oldest first: why a plugin
 * the page expects is missing. {@link onLoadFailed} hears later ones.
 */
export async function loadFailures(): Promise<LoadFailure[]> {
  return await call<LoadFailure[]>('plugin:wasp|load_failures')
}

/** Calls `handler` for every load failure from now on (see {@link loadFailures}). */
export async function onLoadFailed(handler: (failure: LoadFailure) => void): Promise<UnlistenFn> {
  return await onEvent<LoadFailure>('wasp://load-failed', handler)
}

/** Listens to one of the plugin's own Tauri events; the returned function stops once. */
async function onEvent<T>(event: string, handler: (payload: T) => void): Promise<UnlistenFn> {
  const stop = await listenTauri<T>(event, handler)
  let stopped = false
  return async () => {
    if (!stopped) {
      stopped = true
      await stop()
    }
  }
}

/**
 * Loads the plugin bundle at `path` (a folder with `plugin.toml`), which must
 * lie inside one of the plugin directories the app configured; a relative
 * path is resolved against them.
 */
export async function load(path: string): Promise<Loaded> {
  return await call<Loaded>('plugin:wasp|load', { path })
}

/** Stops plugin `name` and forgets it. */
export async function unload(name: string): Promise<void> {
  await call<null>('plugin:wasp|unload', { name })
}

/** Loads plugin `name` again from where it was loaded; its queued messages are kept. */
export async function reload(name: string): Promise<Loaded> {
  return await call<Loaded>('plugin:wasp|reload', { name })
}

/** Grants `permission` to `plugin` at run time. */
export async function grant(plugin: string, permission: string): Promise<void> {
  await call<null>('plugin:wasp|grant', { plugin, permission })
}

/** Takes `permission` back from `plugin`. */
export async function revoke(plugin: string, permission: string): Promise<void> {
  await call<null>('plugin:wasp|revoke', { plugin, permission })
}

/** The host's recent audit events (denied calls, violations, faults, ...). */
export async function audit(): Promise<AuditEntry[]> {
  return await call<AuditEntry[]>('plugin:wasp|audit')
}

/** The permission questions waiting for an answer (see {@link onPermissionAsk}). */
export async function pendingPermissions(): Promise<PermissionAsk[]> {
  return await call<PermissionAsk[]>('plugin:wasp|pending_permissions')
}

/** Answers permission question `id`; the host remembers the answer. */
export async function answerPermission(id: number, allow: boolean): Promise<void> {
  await call<null>('plugin:wasp|answer_permission', { id, allow })
}

/**
 * Calls `handler` for every permission question asked from now on (when the
 * app was built with `Ask::Webview`). Questions asked before the page
 * listened are in {@link pendingPermissions}.
 */
export async function onPermissionAsk(handler: (ask: PermissionAsk) => void): Promise<UnlistenFn> {
  return await onEvent<PermissionAsk>('wasp://permission', handler)
}

/**
 * The URL of a file of `plugin`'s UI panel, served by the `wasp-ui` scheme
 * (`wasp-ui://localhost/<plugin>/<path>`, or `http://wasp-ui.localhost/...`
 * on Windows and Android).
 */
export function panelUrl(plugin: string, path = 'index.html'): string {
  const base = convertFileSrc('', 'wasp-ui')
  const file = path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')
  return `${base.endsWith('/') ? base : `${base}/`}${encodeURIComponent(plugin)}/${file}`
}

/** How many subscriptions one panel may hold at once. */
const PANEL_SUBSCRIPTIONS = 64

type PanelMessage = Record<string, unknown> & { wasp: 1; id: number }

function field(msg: PanelMessage, key: string): string {
  const value = msg[key]
  if (typeof value !== 'string') {
    throw new WaspError('invalid_argument', `panel message field \`${key}\` must be a string`)
  }
  return value
}

function optionalMillis(msg: PanelMessage, key: string): number | undefined {
  const value = msg[key]
  if (value === undefined || value === null) {
    return undefined
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new WaspError('invalid_argument', `panel message field \`${key}\` must be a number of milliseconds`)
  }
  return value
}

/**
 * The parent side of one panel: answers the panel's postMessage operations
 * by calling the plugin's commands under the panel plugin's permissions.
 */
class PanelBridge {
  /** The panel's subscriptions: id -> stops the Tauri listener. */
  private readonly subscriptions = new Map<number, () => Promise<void>>()
  private closed = false

  constructor(
    private readonly plugin: string,
    private readonly iframe: HTMLIFrameElement
  ) {}

  /** The window `message` listener. */
  readonly onMessage = (event: MessageEvent): void => {
    // The panel is who sends from its frame, whatever the message claims.
    if (this.closed || event.source === null || event.source !== this.iframe.contentWindow) {
      return
    }
    const msg: unknown = event.data
    if (typeof msg !== 'object' || msg === null) {
      return
    }
    const { wasp, id } = msg as { wasp?: unknown; id?: unknown }
    if (wasp !== 1 || typeof id !== 'number') {
      return
    }
    void this.dispatch(msg as PanelMessage)
  }

  private post(message: object): void {
    try {
      this.iframe.contentWindow?.postMessage(message, '*')
    } catch (error) {
      // An uncloneable value cannot reach the panel; nothing else to tell it.
      console.warn('wasp: could not post to panel', this.plugin, error)
    }
  }

  private async dispatch(msg: PanelMessage): Promise<void> {
    try {
      if (msg.op === 'listen') {
        await this.listen(msg.id, field(msg, 'pattern'))
        return
      }
      const ok = await this.answer(msg)
      this.post({ wasp: 1, id: msg.id, ok: ok === undefined ? null : ok })
    } catch (error) {
      this.post({ wasp: 1, id: msg.id, error: toWaspError(error).toJSON() })
    }
  }

  private async answer(msg: PanelMessage): Promise<unknown> {
    const panel = this.plugin
    switch (msg.op) {
      case 'request':
        return await call('plugin:wasp|request', {
          to: field(msg, 'to'),
          topic: field(msg, 'topic'),
          payload: msg.payload,
          timeoutMs: optionalMillis(msg, 'timeoutMs'),
          panel
        })
      case 'send':
        return await call('plugin:wasp|send', { to: field(msg, 'to'), topic: field(msg, 'topic'), payload: msg.payload, panel })
      case 'publish':
        return await call('plugin:wasp|publish', { topic: field(msg, 'topic'), payload: msg.payload, panel })
      case 'unlisten':
        await this.unlisten(msg.subscription)
        return null
      default:
        throw new WaspError('invalid_message', `unknown panel operation ${JSON.stringify(msg.op)}`)
    }
  }

  /** Subscribes for the panel; answers the id before any of its events. */
  private async listen(requestId: number, pattern: string): Promise<void> {
    if (this.subscriptions.size >= PANEL_SUBSCRIPTIONS) {
      throw new WaspError('busy', `panel \`${this.plugin}\` holds ${PANEL_SUBSCRIPTIONS} subscriptions already`)
    }
    // Hold events until the panel knows the subscription id.
    let early: WaspEvent[] | null = []
    let id = 0
    const subscribed = await subscribe<unknown>(
      pattern,
      (event) => {
        if (early) {
          early.push(event)
        } else {
          this.forward(id, event)
        }
      },
      this.plugin
    )
    id = subscribed.id
    const stop = subscribed.stop
    if (this.closed) {
      await this.drop(id, stop)
      throw new WaspError('unavailable', `panel \`${this.plugin}\` was destroyed`)
    }
    this.subscriptions.set(id, stop)
    this.post({ wasp: 1, id: requestId, ok: id })
    const held = early
    early = null
    for (const event of held) {
      this.forward(id, event)
    }
  }

  private forward(subscription: number, event: WaspEvent): void {
    if (!this.closed) {
      this.post({ wasp: 1, event: { subscription, topic: event.topic, from: event.from, payload: event.payload } })
    }
  }

  private async unlisten(subscription: unknown): Promise<void> {
    const stop = typeof subscription === 'number' ? this.subscriptions.get(subscription) : undefined
    if (stop === undefined) {
      throw new WaspError('not_found', `panel \`${this.plugin}\` has no subscription ${String(subscription)}`)
    }
    this.subscriptions.delete(subscription as number)
    await this.drop(subscription as number, stop)
  }

  private async drop(id: number, stop: () => Promise<void>): Promise<void> {
    await Promise.allSettled([stop(), unsubscribe(id)])
  }

  /** Stops answering and drops every subscription. */
  async close(): Promise<void> {
    this.closed = true
    const all = [...this.subscriptions]
    this.subscriptions.clear()
    await Promise.allSettled(all.map(([id, stop]) => this.drop(id, stop)))
  }
}

/**
 * Mounts `plugin`'s UI panel in `container`: a sandboxed iframe
 * (`sandbox="allow-scripts"`, an opaque origin without Tauri IPC) and the
 * bridge that answers its postMessage calls under `plugin`'s permissions.
 *
 * Inside the panel, `_wasp/panel.js` provides `window.wasp` with `request`,
 * `send`, `publish` and `listen`.
 *
 * @example
 * ```ts
 * const panel = mountPanel(document.getElementById('panel-counter')!, 'counter')
 * // later
 * await panel.destroy()
 * ```
 */
export function mountPanel(container: HTMLElement, plugin: string, options: MountOptions = {}): MountedPanel {
  const doc = container.ownerDocument
  const view = doc.defaultView ?? window
  const iframe = doc.createElement('iframe')
  // The sandbox must be in place before the first navigation.
  iframe.setAttribute('sandbox', 'allow-scripts')
  iframe.setAttribute('referrerpolicy', 'no-referrer')
  iframe.id = options.id ?? `panel-${plugin}-frame`
  iframe.title = `${plugin} panel`
  iframe.className = 'wasp-panel'
  iframe.src = panelUrl(plugin, options.path)
  const bridge = new PanelBridge(plugin, iframe)
  view.addEventListener('message', bridge.onMessage)
  container.appendChild(iframe)
  let destroyed: Promise<void> | null = null
  return {
    iframe,
    destroy(): Promise<void> {
      if (destroyed === null) {
        view.removeEventListener('message', bridge.onMessage)
        iframe.remove()
        destroyed = bridge.close()
      }
      return destroyed
    }
  }
}
