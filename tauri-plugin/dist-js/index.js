import { Channel, convertFileSrc, invoke } from '@tauri-apps/api/core';
import { listen as listen$1 } from '@tauri-apps/api/event';

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
/**
 * The error every call rejects with.
 *
 * `code` is one of wasp's error codes in snake_case, or one of the plugin's
 * own (`not_loaded`, `already_loaded`, `invalid_payload`,
 * `outside_plugin_dirs`, `unsupported`, `internal`). `ipc` means Tauri
 * refused the call before it reached wasp (a command the capability does not
 * allow, arguments that do not deserialize), with Tauri's message.
 */
class WaspError extends Error {
    /** An error with this code and message. */
    constructor(code, message) {
        super(message);
        this.name = 'WaspError';
        this.code = code;
    }
    /** `{code, message}`: what JSON and postMessage carry. */
    toJSON() {
        return { code: this.code, message: this.message };
    }
}
/** Any rejection as a WaspError; the plugin's errors arrive as `{code, message}`. */
function toWaspError(error) {
    if (error instanceof WaspError) {
        return error;
    }
    if (typeof error === 'object' && error !== null) {
        const { code, message } = error;
        if (typeof code === 'string') {
            return new WaspError(code, typeof message === 'string' ? message : code);
        }
        if (typeof message === 'string') {
            return new WaspError('ipc', message);
        }
    }
    return new WaspError('ipc', String(error));
}
async function call(cmd, args, options) {
    try {
        return await invoke(cmd, args, options);
    }
    catch (error) {
        throw toWaspError(error);
    }
}
/** A raw reply as bytes: an ArrayBuffer through the IPC protocol, an array of numbers through its fallback. */
function toBytes(reply) {
    if (reply instanceof ArrayBuffer) {
        return new Uint8Array(reply);
    }
    if (ArrayBuffer.isView(reply)) {
        return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength);
    }
    if (Array.isArray(reply)) {
        return Uint8Array.from(reply);
    }
    if (reply === null || reply === undefined) {
        return new Uint8Array(0);
    }
    throw new WaspError('invalid_message', `a raw reply must be bytes, not ${typeof reply}`);
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
async function request(to, topic, payload, options = {}) {
    return await cancellable(options.signal, (cancel) => call('plugin:wasp|request', {
        to,
        topic,
        payload,
        timeoutMs: options.timeoutMs,
        ...(cancel === undefined ? {} : { cancel })
    }));
}
/**
 * Like {@link request}, with the payload and the reply as MessagePack bytes,
 * passed as the raw IPC body (no JSON on the way).
 */
async function requestRaw(to, topic, bytes, options = {}) {
    return await cancellable(options.signal, async (cancel) => {
        const headers = { 'wasp-to': to, 'wasp-topic': topic };
        if (options.timeoutMs !== undefined) {
            headers['wasp-timeout-ms'] = String(options.timeoutMs);
        }
        if (cancel !== undefined) {
            headers['wasp-cancel'] = cancel;
        }
        return toBytes(await call('plugin:wasp|request', bytes, { headers }));
    });
}
/** A ticket nobody else can guess: 128 random bits, in hex. */
function ticket() {
    const bytes = new Uint8Array(16);
    globalThis.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
/**
 * Runs `send` with a cancel ticket when there is a `signal`: aborting it
 * sends `cancel` with the ticket, and the request rejects with `cancelled`.
 */
async function cancellable(signal, send) {
    if (signal === undefined) {
        return await send();
    }
    if (signal.aborted) {
        throw new WaspError('cancelled', 'the request was cancelled before it was sent');
    }
    const cancel = ticket();
    const onAbort = () => {
        call('plugin:wasp|cancel', { ticket: cancel }).catch(() => undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
        return await send(cancel);
    }
    finally {
        signal.removeEventListener('abort', onAbort);
    }
}
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
async function serve(fn, handler) {
    const running = new Map();
    const channel = new Channel((message) => {
        if (message.kind === 'cancel') {
            running.get(message.id)?.abort();
            running.delete(message.id);
            return;
        }
        const controller = new AbortController();
        running.set(message.id, controller);
        const served = {
            function: message.function,
            plugin: message.plugin,
            payload: message.payload,
            signal: controller.signal
        };
        Promise.resolve()
            .then(() => handler(served))
            .then((payload) => call('plugin:wasp|answer', { id: message.id, payload: payload ?? null }), (error) => call('plugin:wasp|answer', {
            id: message.id,
            error: error instanceof Error ? error.message : String(error)
        }))
            .catch(() => undefined)
            .finally(() => running.delete(message.id));
    });
    await call('plugin:wasp|serve', { function: fn, channel });
    let withdrawn = false;
    return async () => {
        if (withdrawn) {
            return;
        }
        withdrawn = true;
        channel.onmessage = () => undefined;
        await call('plugin:wasp|withdraw', { function: fn });
    };
}
/** Sends a one-way message to plugin `to` on `topic`; resolves once it is queued. */
async function send(to, topic, payload) {
    await call('plugin:wasp|send', { to, topic, payload });
}
/** Like {@link send}, with the payload as MessagePack bytes. */
async function sendRaw(to, topic, bytes) {
    await call('plugin:wasp|send', bytes, { headers: { 'wasp-to': to, 'wasp-topic': topic } });
}
/** Publishes an event on `topic` to every subscriber. */
async function publish(topic, payload) {
    await call('plugin:wasp|publish', { topic, payload });
}
/** Like {@link publish}, with the payload as MessagePack bytes. */
async function publishRaw(topic, bytes) {
    await call('plugin:wasp|publish', bytes, { headers: { 'wasp-topic': topic } });
}
/**
 * Subscribes to `pattern` with `handler` on a channel of its own: the channel
 * exists before the subscription, so no event arrives unheard, and its events
 * reach this page alone, in order. Resolves to the subscription id and a
 * function that stops the channel (not the subscription: see `unsubscribe`).
 */
async function subscribe(pattern, handler, panel) {
    const channel = new Channel(handler);
    const stop = async () => {
        // Later messages are dropped, and the channel's callback unregistered
        // (`cleanupCallback` is newer than some @tauri-apps/api 2 releases).
        channel.onmessage = () => undefined;
        channel.cleanupCallback?.();
    };
    try {
        const { id } = await call('plugin:wasp|subscribe', { pattern, panel, channel });
        return { id, stop };
    }
    catch (error) {
        await stop();
        throw error;
    }
}
async function unsubscribe(id) {
    await call('plugin:wasp|unsubscribe', { id });
}
/** Listens to a Tauri event, with failures as WaspError. */
async function listenTauri(event, handler) {
    try {
        const unlisten = await listen$1(event, (e) => handler(e.payload));
        return async () => {
            try {
                await unlisten();
            }
            catch (error) {
                throw toWaspError(error);
            }
        };
    }
    catch (error) {
        throw toWaspError(error);
    }
}
/**
 * Calls `handler` for every event whose topic matches `pattern` (`*` matches
 * everything, `counter.*` every topic under `counter.`).
 *
 * Resolves once the subscription is in place, to a function that ends it.
 */
async function listen(pattern, handler) {
    const { id, stop: stopListening } = await subscribe(pattern, handler);
    let stopped = false;
    return async () => {
        if (stopped) {
            return;
        }
        stopped = true;
        await stopListening();
        await unsubscribe(id);
    };
}
/** Every loaded plugin with its state and counters. */
async function plugins() {
    return await call('plugin:wasp|plugins');
}
/**
 * The plugin folders that failed to load when the app started (autoload) and
 * the plugin directories that could not be read, oldest first: why a plugin
 * the page expects is missing. {@link onLoadFailed} hears later ones.
 */
async function loadFailures() {
    return await call('plugin:wasp|load_failures');
}
/** Calls `handler` for every load failure from now on (see {@link loadFailures}). */
async function onLoadFailed(handler) {
    return await onEvent('wasp://load-failed', handler);
}
/** Listens to one of the plugin's own Tauri events; the returned function stops once. */
async function onEvent(event, handler) {
    const stop = await listenTauri(event, handler);
    let stopped = false;
    return async () => {
        if (!stopped) {
            stopped = true;
            await stop();
        }
    };
}
/**
 * Loads the plugin bundle at `path` (a folder with `plugin.toml`), which must
 * lie inside one of the plugin directories the app configured; a relative
 * path is resolved against them.
 */
async function load(path) {
    return await call('plugin:wasp|load', { path });
}
/** Stops plugin `name` and forgets it. */
async function unload(name) {
    await call('plugin:wasp|unload', { name });
}
/** Loads plugin `name` again from where it was loaded; its queued messages are kept. */
async function reload(name) {
    return await call('plugin:wasp|reload', { name });
}
/** Grants `permission` to `plugin` at run time. */
async function grant(plugin, permission) {
    await call('plugin:wasp|grant', { plugin, permission });
}
/** Takes `permission` back from `plugin`. */
async function revoke(plugin, permission) {
    await call('plugin:wasp|revoke', { plugin, permission });
}
/** The host's recent audit events (denied calls, violations, faults, ...). */
async function audit() {
    return await call('plugin:wasp|audit');
}
/** The permission questions waiting for an answer (see {@link onPermissionAsk}). */
async function pendingPermissions() {
    return await call('plugin:wasp|pending_permissions');
}
/** Answers permission question `id`; the host remembers the answer. */
async function answerPermission(id, allow) {
    await call('plugin:wasp|answer_permission', { id, allow });
}
/**
 * Calls `handler` for every permission question asked from now on (when the
 * app was built with `Ask::Webview`). Questions asked before the page
 * listened are in {@link pendingPermissions}.
 */
async function onPermissionAsk(handler) {
    return await onEvent('wasp://permission', handler);
}
/**
 * The URL of a file of `plugin`'s UI panel, served by the `wasp-ui` scheme
 * (`wasp-ui://localhost/<plugin>/<path>`, or `http://wasp-ui.localhost/...`
 * on Windows and Android).
 */
function panelUrl(plugin, path = 'index.html') {
    const base = convertFileSrc('', 'wasp-ui');
    const file = path.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
    return `${base.endsWith('/') ? base : `${base}/`}${encodeURIComponent(plugin)}/${file}`;
}
/** How many subscriptions one panel may hold at once. */
const PANEL_SUBSCRIPTIONS = 64;
function field(msg, key) {
    const value = msg[key];
    if (typeof value !== 'string') {
        throw new WaspError('invalid_argument', `panel message field \`${key}\` must be a string`);
    }
    return value;
}
function optionalMillis(msg, key) {
    const value = msg[key];
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new WaspError('invalid_argument', `panel message field \`${key}\` must be a number of milliseconds`);
    }
    return value;
}
/**
 * The parent side of one panel: answers the panel's postMessage operations
 * by calling the plugin's commands under the panel plugin's permissions.
 */
class PanelBridge {
    constructor(plugin, iframe) {
        this.plugin = plugin;
        this.iframe = iframe;
        /** The panel's subscriptions: id -> stops the Tauri listener. */
        this.subscriptions = new Map();
        this.closed = false;
        /** The window `message` listener. */
        this.onMessage = (event) => {
            // The panel is who sends from its frame, whatever the message claims.
            if (this.closed || event.source === null || event.source !== this.iframe.contentWindow) {
                return;
            }
            const msg = event.data;
            if (typeof msg !== 'object' || msg === null) {
                return;
            }
            const { wasp, id } = msg;
            if (wasp !== 1 || typeof id !== 'number') {
                return;
            }
            void this.dispatch(msg);
        };
    }
    post(message) {
        try {
            this.iframe.contentWindow?.postMessage(message, '*');
        }
        catch (error) {
            // An uncloneable value cannot reach the panel; nothing else to tell it.
            console.warn('wasp: could not post to panel', this.plugin, error);
        }
    }
    async dispatch(msg) {
        try {
            if (msg.op === 'listen') {
                await this.listen(msg.id, field(msg, 'pattern'));
                return;
            }
            const ok = await this.answer(msg);
            this.post({ wasp: 1, id: msg.id, ok: ok === undefined ? null : ok });
        }
        catch (error) {
            this.post({ wasp: 1, id: msg.id, error: toWaspError(error).toJSON() });
        }
    }
    async answer(msg) {
        const panel = this.plugin;
        switch (msg.op) {
            case 'request':
                return await call('plugin:wasp|request', {
                    to: field(msg, 'to'),
                    topic: field(msg, 'topic'),
                    payload: msg.payload,
                    timeoutMs: optionalMillis(msg, 'timeoutMs'),
                    panel
                });
            case 'send':
                return await call('plugin:wasp|send', { to: field(msg, 'to'), topic: field(msg, 'topic'), payload: msg.payload, panel });
            case 'publish':
                return await call('plugin:wasp|publish', { topic: field(msg, 'topic'), payload: msg.payload, panel });
            case 'unlisten':
                await this.unlisten(msg.subscription);
                return null;
            default:
                throw new WaspError('invalid_message', `unknown panel operation ${JSON.stringify(msg.op)}`);
        }
    }
    /** Subscribes for the panel; answers the id before any of its events. */
    async listen(requestId, pattern) {
        if (this.subscriptions.size >= PANEL_SUBSCRIPTIONS) {
            throw new WaspError('busy', `panel \`${this.plugin}\` holds ${PANEL_SUBSCRIPTIONS} subscriptions already`);
        }
        // Hold events until the panel knows the subscription id.
        let early = [];
        let id = 0;
        const subscribed = await subscribe(pattern, (event) => {
            if (early) {
                early.push(event);
            }
            else {
                this.forward(id, event);
            }
        }, this.plugin);
        id = subscribed.id;
        const stop = subscribed.stop;
        if (this.closed) {
            await this.drop(id, stop);
            throw new WaspError('unavailable', `panel \`${this.plugin}\` was destroyed`);
        }
        this.subscriptions.set(id, stop);
        this.post({ wasp: 1, id: requestId, ok: id });
        const held = early;
        early = null;
        for (const event of held) {
            this.forward(id, event);
        }
    }
    forward(subscription, event) {
        if (!this.closed) {
            this.post({ wasp: 1, event: { subscription, topic: event.topic, from: event.from, payload: event.payload } });
        }
    }
    async unlisten(subscription) {
        const stop = typeof subscription === 'number' ? this.subscriptions.get(subscription) : undefined;
        if (stop === undefined) {
            throw new WaspError('not_found', `panel \`${this.plugin}\` has no subscription ${String(subscription)}`);
        }
        this.subscriptions.delete(subscription);
        await this.drop(subscription, stop);
    }
    async drop(id, stop) {
        await Promise.allSettled([stop(), unsubscribe(id)]);
    }
    /** Stops answering and drops every subscription. */
    async close() {
        this.closed = true;
        const all = [...this.subscriptions];
        this.subscriptions.clear();
        await Promise.allSettled(all.map(([id, stop]) => this.drop(id, stop)));
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
function mountPanel(container, plugin, options = {}) {
    const doc = container.ownerDocument;
    const view = doc.defaultView ?? window;
    const iframe = doc.createElement('iframe');
    // The sandbox must be in place before the first navigation.
    iframe.setAttribute('sandbox', 'allow-scripts');
    iframe.setAttribute('referrerpolicy', 'no-referrer');
    iframe.id = options.id ?? `panel-${plugin}-frame`;
    iframe.title = `${plugin} panel`;
    iframe.className = 'wasp-panel';
    iframe.src = panelUrl(plugin, options.path);
    const bridge = new PanelBridge(plugin, iframe);
    view.addEventListener('message', bridge.onMessage);
    container.appendChild(iframe);
    let destroyed = null;
    return {
        iframe,
        destroy() {
            if (destroyed === null) {
                view.removeEventListener('message', bridge.onMessage);
                iframe.remove();
                destroyed = bridge.close();
            }
            return destroyed;
        }
    };
}

export { WaspError, answerPermission, audit, grant, listen, load, loadFailures, mountPanel, onLoadFailed, onPermissionAsk, panelUrl, pendingPermissions, plugins, publish, publishRaw, reload, request, requestRaw, revoke, send, sendRaw, serve, unload };
