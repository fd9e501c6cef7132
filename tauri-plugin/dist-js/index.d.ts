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
/** The life-cycle state of a loaded plugin. */
export type PluginState = 'running' | 'restarting' | 'quarantined' | 'unknown';
/** A plugin's counters, as `plugins()` reports them. */
export interface PluginMetrics {
    /** Messages waiting in its mailbox. */
    queued: number;
    /** Messages it has handled. */
    handled: number;
    /** Traps, panics and other faults. */
    faults: number;
    /** Times it was restarted after a fault. */
    restarts: number;
    /** Messages refused (mailbox full, quarantined, ...). */
    refused: number;
    /** Requests whose deadline passed before they were handled. */
    expired: number;
    /** Calls refused for want of a permission. */
    denied: number;
    /** Limit violations (CPU budget, memory, ...). */
    violations: number;
    /** Events dropped. */
    dropped: number;
    /** CPU time spent in the plugin, in microseconds. */
    busyMicros: number;
    /** Memory it holds now, in bytes. */
    memoryBytes: number;
    /** The most memory it has held, in bytes. */
    memoryPeakBytes: number;
}
/** One loaded plugin, as `plugins()` reports it. */
export interface PluginEntry {
    /** Its name (the address requests are sent to). */
    name: string;
    /** How it runs: WASM, native library or in process. */
    kind: string;
    /** The version its manifest declares. */
    version: string;
    /** Its life-cycle state. */
    state: PluginState;
    /** Why it is quarantined, when it is. */
    quarantineReason: string | null;
    /** The permissions it holds. */
    permissions: string[];
    /** Whether its manifest declares a UI panel (see {@link mountPanel}). */
    hasUi: boolean;
    /** Its counters. */
    metrics: PluginMetrics;
}
/** What `load` and `reload` report about the plugin they loaded. */
export interface Loaded {
    /** The plugin's name. */
    name: string;
    /** How it runs. */
    kind: string;
    /** The permissions it asked for and was granted. */
    granted: string[];
    /** The permissions it asked for and was refused. */
    refused: string[];
    /** Its components (a hybrid plugin has more than one). */
    components: string[];
}
/** A permission a plugin asked for that the host's policy left undecided. */
export interface PermissionAsk {
    /** The id to answer it with (see {@link answerPermission}). */
    id: number;
    /** The plugin asking. */
    plugin: string;
    /** Its version. */
    version: string;
    /** The permission, e.g. `storage` or `net:example.com`. */
    permission: string;
    /** What the permission lets the plugin do, when known. */
    description: string | null;
    /** Who the plugin is: `blake3:…` (its code's hash) or `ed25519:…` (the trusted publisher that signed it). */
    identity: string;
    /** The trusted publisher key that signed its bundle, if one did. */
    publisher: string | null;
    /** Set when a plugin of this name loaded before with other code: the identity it had then ("changed since you allowed it"). */
    previousIdentity: string | null;
}
/**
 * A plugin folder that did not load when the app started, or a plugin
 * directory that could not be read (see {@link loadFailures}).
 */
export interface LoadFailure {
    /** The plugin folder, or the directory that could not be read. */
    path: string;
    /** The stable error code: `not_found`, `permission_denied`, `invalid_argument`, `unavailable`, ... */
    code: string;
    /** What went wrong, for people. */
    message: string;
}
/** One recent audit event of the host. */
export interface AuditEntry {
    /** The plugin it concerns. */
    plugin: string;
    /** What kind of event it is: `{ type: 'permission_denied', permission }`, `{ type: 'fault', code }`, … */
    kind: {
        type: string;
        [field: string]: unknown;
    };
    /** What happened. */
    message: string;
    /** When, in milliseconds since 1970-01-01 UTC. */
    at: number;
}
/** An event delivered to a {@link listen} handler. */
export interface WaspEvent<T = unknown> {
    /** The subscription that matched it. */
    subscription: number;
    /** The topic it was published on. */
    topic: string;
    /** The plugin (or host) that published it. */
    from: string;
    /** Its payload, converted from MessagePack. */
    payload: T;
}
/** Options of a request. */
export interface RequestOptions {
    /** How long to wait for the reply, in milliseconds (the host's default when absent). */
    timeoutMs?: number;
    /**
     * Cancels the request when aborted: it rejects with code `cancelled`; a
     * request still queued never runs, and a plugin that has it already is
     * told (`wasp.cancel`).
     */
    signal?: AbortSignal;
}
/** A plugin's call of a function this page serves ({@link serve}). */
export interface ServedCall<T = unknown> {
    /** The function called. */
    function: string;
    /** The calling plugin. */
    plugin: string;
    /** Its payload, converted from MessagePack. */
    payload: T;
    /** Aborted when the plugin stops waiting (its timeout, or it stopped). */
    signal: AbortSignal;
}
/** Options of {@link mountPanel}. */
export interface MountOptions {
    /** The iframe's id; `panel-<plugin>-frame` when absent. */
    id?: string;
    /** The page of the panel to load; `index.html` when absent. */
    path?: string;
}
/** A panel mounted by {@link mountPanel}. */
export interface MountedPanel {
    /** The sandboxed iframe holding the panel. */
    iframe: HTMLIFrameElement;
    /** Removes the iframe, stops the bridge and drops the panel's subscriptions. */
    destroy(): Promise<void>;
}
/** Stops what `listen` or `onPermissionAsk` started. Calling it again does nothing. */
export type UnlistenFn = () => Promise<void>;
/**
 * The error every call rejects with.
 *
 * `code` is one of wasp's error codes in snake_case, or one of the plugin's
 * own (`not_loaded`, `already_loaded`, `invalid_payload`,
 * `outside_plugin_dirs`, `unsupported`, `internal`). `ipc` means Tauri
 * refused the call before it reached wasp (a command the capability does not
 * allow, arguments that do not deserialize), with Tauri's message.
 */
export declare class WaspError extends Error {
    /** The error code. */
    readonly code: string;
    /** An error with this code and message. */
    constructor(code: string, message: string);
    /** `{code, message}`: what JSON and postMessage carry. */
    toJSON(): {
        code: string;
        message: string;
    };
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
export declare function request<T = unknown>(to: string, topic: string, payload?: unknown, options?: RequestOptions): Promise<T>;
/**
 * Like {@link request}, with the payload and the reply as MessagePack bytes,
 * passed as the raw IPC body (no JSON on the way).
 */
export declare function requestRaw(to: string, topic: string, bytes: Uint8Array, options?: RequestOptions): Promise<Uint8Array>;
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
export declare function serve<T = unknown>(fn: string, handler: (call: ServedCall<T>) => unknown | Promise<unknown>): Promise<UnlistenFn>;
/** Sends a one-way message to plugin `to` on `topic`; resolves once it is queued. */
export declare function send(to: string, topic: string, payload?: unknown): Promise<void>;
/** Like {@link send}, with the payload as MessagePack bytes. */
export declare function sendRaw(to: string, topic: string, bytes: Uint8Array): Promise<void>;
/** Publishes an event on `topic` to every subscriber. */
export declare function publish(topic: string, payload?: unknown): Promise<void>;
/** Like {@link publish}, with the payload as MessagePack bytes. */
export declare function publishRaw(topic: string, bytes: Uint8Array): Promise<void>;
/**
 * Calls `handler` for every event whose topic matches `pattern` (`*` matches
 * everything, `counter.*` every topic under `counter.`).
 *
 * Resolves once the subscription is in place, to a function that ends it.
 */
export declare function listen<T = unknown>(pattern: string, handler: (event: WaspEvent<T>) => void): Promise<UnlistenFn>;
/** Every loaded plugin with its state and counters. */
export declare function plugins(): Promise<PluginEntry[]>;
/**
 * The plugin folders that failed to load when the app started (autoload) and
 * the plugin directories that could not be read, oldest first: why a plugin
 * the page expects is missing. {@link onLoadFailed} hears later ones.
 */
export declare function loadFailures(): Promise<LoadFailure[]>;
/** Calls `handler` for every load failure from now on (see {@link loadFailures}). */
export declare function onLoadFailed(handler: (failure: LoadFailure) => void): Promise<UnlistenFn>;
/**
 * Loads the plugin bundle at `path` (a folder with `plugin.toml`), which must
 * lie inside one of the plugin directories the app configured; a relative
 * path is resolved against them.
 */
export declare function load(path: string): Promise<Loaded>;
/** Stops plugin `name` and forgets it. */
export declare function unload(name: string): Promise<void>;
/** Loads plugin `name` again from where it was loaded; its queued messages are kept. */
export declare function reload(name: string): Promise<Loaded>;
/** Grants `permission` to `plugin` at run time. */
export declare function grant(plugin: string, permission: string): Promise<void>;
/** Takes `permission` back from `plugin`. */
export declare function revoke(plugin: string, permission: string): Promise<void>;
/** The host's recent audit events (denied calls, violations, faults, ...). */
export declare function audit(): Promise<AuditEntry[]>;
/** The permission questions waiting for an answer (see {@link onPermissionAsk}). */
export declare function pendingPermissions(): Promise<PermissionAsk[]>;
/** Answers permission question `id`; the host remembers the answer. */
export declare function answerPermission(id: number, allow: boolean): Promise<void>;
/**
 * Calls `handler` for every permission question asked from now on (when the
 * app was built with `Ask::Webview`). Questions asked before the page
 * listened are in {@link pendingPermissions}.
 */
export declare function onPermissionAsk(handler: (ask: PermissionAsk) => void): Promise<UnlistenFn>;
/**
 * The URL of a file of `plugin`'s UI panel, served by the `wasp-ui` scheme
 * (`wasp-ui://localhost/<plugin>/<path>`, or `http://wasp-ui.localhost/...`
 * on Windows and Android).
 */
export declare function panelUrl(plugin: string, path?: string): string;
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
export declare function mountPanel(container: HTMLElement, plugin: string, options?: MountOptions): MountedPanel;
