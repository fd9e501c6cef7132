// Tests of the committed JS outputs: api-iife.js (the global script the
// plugin injects, built from guest-js/index.ts) and guest-js/panel.js (the
// panel side of the UI bridge), run against a fake Tauri IPC and fake
// windows. Run with `node --test guest-js/tests/` in tauri-plugin/.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

const root = new URL('../../', import.meta.url)
const apiSource = readFileSync(new URL('api-iife.js', root), 'utf8')
const panelSource = readFileSync(new URL('guest-js/panel.js', root), 'utf8')

/** Lets queued tasks (postMessage deliveries, IPC replies) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5))

/** A window: message listeners and postMessage with `event.source` set to the sender. */
class FakeWindow {
  constructor() {
    this.listeners = new Map()
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set())
    this.listeners.get(type).add(fn)
  }
  removeEventListener(type, fn) {
    this.listeners.get(type)?.delete(fn)
  }
  listenerCount(type) {
    return this.listeners.get(type)?.size ?? 0
  }
  /** Delivers `data` as if `source` had posted it to this window. */
  deliver(data, source) {
    const copy = structuredClone(data)
    setImmediate(() => {
      for (const fn of [...(this.listeners.get('message') ?? [])]) fn({ data: copy, source })
    })
  }
}

/**
 * The app page: a window with Tauri's internals, an event plugin and a fake
 * wasp backend; `backend[command](args, options)` answers `plugin:wasp|<command>`.
 *
 * The default `subscribe` answers `{ id }` like the plugin, refuses a
 * `channel` that is not a Tauri channel (its JSON form `__CHANNEL__:<id>`,
 * with a registered callback), and calls `win.onSubscribe({ id, channel })`
 * before answering (an event the host sends before the answer arrives).
 * `win.toChannel(channel, message)` sends on a channel as Tauri does (with
 * the message's index), and does nothing once its callback is unregistered.
 */
function appWindow({ backend = {}, tauriGlobal = false, fileSrc } = {}) {
  const win = new FakeWindow()
  const calls = []
  const callbacks = new Map()
  const eventListeners = new Map() // eventId -> {event, handler}
  let nextCallback = 1
  let nextEventId = 1
  let nextSubscription = 100
  const indexes = new Map() // channel callback id -> next message index
  const wasp = {
    subscribe: ({ channel }) => {
      const json = channel?.toJSON?.()
      const callback = Number(/^__CHANNEL__:(\d+)$/.exec(json ?? '')?.[1])
      if (!callbacks.has(callback)) throw { code: 'invalid_payload', message: `not a channel: ${json}` }
      const id = nextSubscription++
      win.onSubscribe?.({ id, channel: callback })
      return { id }
    },
    unsubscribe: () => null,
    ...backend
  }
  win.emit = (event, payload) => {
    for (const [id, l] of eventListeners) {
      if (l.event === event) callbacks.get(l.handler)({ event, id, payload })
    }
  }
  win.toChannel = (channel, message) => {
    const index = indexes.get(channel) ?? 0
    indexes.set(channel, index + 1)
    callbacks.get(channel)?.({ message, index })
  }
  win.callbacks = callbacks
  win.eventListeners = eventListeners
  win.calls = calls
  win.callsOf = (cmd) => calls.filter((c) => c.cmd === cmd)
  win.__TAURI_INTERNALS__ = {
    transformCallback(cb) {
      const id = nextCallback++
      callbacks.set(id, cb)
      return id
    },
    unregisterCallback(id) {
      callbacks.delete(id)
    },
    convertFileSrc: fileSrc ?? ((path, protocol) => `${protocol}://localhost/${encodeURIComponent(path)}`),
    async invoke(cmd, args, options) {
      calls.push({ cmd, args, options })
      await null
      if (cmd === 'plugin:event|listen') {
        const id = nextEventId++
        eventListeners.set(id, { event: args.event, handler: args.handler })
        return id
      }
      if (cmd === 'plugin:event|unlisten') {
        eventListeners.delete(args.eventId)
        return null
      }
      const name = cmd.replace(/^plugin:wasp\|/, '')
      if (!wasp[name]) throw `command ${cmd} not found`
      return wasp[name](args, options)
    }
  }
  win.__TAURI_EVENT_PLUGIN_INTERNALS__ = { unregisterListener() {} }
  if (tauriGlobal) win.__TAURI__ = {}
  new Function('window', apiSource)(win)
  return win
}

/** How many of the channels `app` subscribed with still have a callback. */
function liveChannels(app) {
  const ids = app.callsOf('plugin:wasp|subscribe').map((c) => Number(c.args.channel.toJSON().split(':')[1]))
  return ids.filter((id) => app.callbacks.has(id)).length
}

/** A DOM just large enough for mountPanel; the iframe's window runs panel.js. */
function fakeDocument(app) {
  const doc = {
    defaultView: app,
    createElement(tag) {
      assert.equal(tag, 'iframe')
      const attributes = new Map()
      const frame = new FakeWindow()
      frame.parent = app
      // What the panel posts reaches the app with the frame as its source.
      frame.parentPost = (data) => app.deliver(data, frame)
      const iframe = {
        attributes,
        contentWindow: frame,
        parentNode: null,
        setAttribute: (k, v) => attributes.set(k, String(v)),
        getAttribute: (k) => attributes.get(k) ?? null,
        remove() {
          this.parentNode?.children.splice(this.parentNode.children.indexOf(this), 1)
          this.parentNode = null
          this.contentWindow = null
        }
      }
      // The app posts to the frame with itself as the source.
      frame.postMessage = (data) => frame.deliver(data, app)
      return iframe
    }
  }
  const container = {
    ownerDocument: doc,
    children: [],
    appendChild(child) {
      child.parentNode = this
      this.children.push(child)
    }
  }
  return { doc, container }
}

/** Runs panel.js in the iframe's window; returns its `window.wasp`. */
function startPanel(iframe, app) {
  const frame = iframe.contentWindow
  const parent = { postMessage: (data) => frame.parentPost(data) }
  // The panel sees its parent as `window.parent`; replies come from `app`.
  frame.parent = parent
  const deliver = frame.deliver.bind(frame)
  frame.deliver = (data, source) => deliver(data, source === app ? parent : source)
  new Function('window', panelSource)(frame)
  return frame.wasp
}

function mounted(backend, options) {
  const app = appWindow({ backend })
  const { container } = fakeDocument(app)
  const panel = app.__TAURI_PLUGIN_WASP__.mountPanel(container, 'counter', options)
  const wasp = startPanel(panel.iframe, app)
  return { app, container, panel, wasp }
}

test('the script defines the global API, and __TAURI__.wasp under withGlobalTauri', () => {
  const app = appWindow({ tauriGlobal: true })
  const api = app.__TAURI_PLUGIN_WASP__
  for (const name of [
    'request', 'requestRaw', 'send', 'sendRaw', 'publish', 'publishRaw', 'listen', 'plugins', 'load',
    'unload', 'reload', 'grant', 'revoke', 'audit', 'pendingPermissions', 'answerPermission',
    'onPermissionAsk', 'panelUrl', 'mountPanel'
  ]) {
    assert.equal(typeof api[name], 'function', name)
  }
  assert.equal(app.__TAURI__.wasp, api)
  assert.equal(appWindow().__TAURI__, undefined)
})

test('request sends the JSON form and resolves to the reply', async () => {
  const app = appWindow({ backend: { request: ({ payload }) => payload } })
  const reply = await app.__TAURI_PLUGIN_WASP__.request('echo', 'say', 'hello wasp', { timeoutMs: 250 })
  assert.equal(reply, 'hello wasp')
  assert.deepEqual(app.callsOf('plugin:wasp|request')[0].args, {
    to: 'echo',
    topic: 'say',
    payload: 'hello wasp',
    timeoutMs: 250
  })
})

test('every command is invoked with its snake_case name and camelCase arguments', async () => {
  const answers = {
    plugins: () => [{ name: 'echo' }],
    load_failures: () => [{ path: '/app/plugins/broken', code: 'invalid_argument', message: 'no name' }],
    load: () => ({ name: 'echo' }),
    unload: () => null,
    reload: () => ({ name: 'echo' }),
    grant: () => null,
    revoke: () => null,
    audit: () => [],
    pending_permissions: () => [],
    answer_permission: () => null,
    send: () => null,
    publish: () => null
  }
  const app = appWindow({ backend: answers })
  const api = app.__TAURI_PLUGIN_WASP__
  assert.deepEqual(await api.plugins(), [{ name: 'echo' }])
  assert.deepEqual(await api.loadFailures(), [
    { path: '/app/plugins/broken', code: 'invalid_argument', message: 'no name' }
  ])
  assert.deepEqual(await api.load('echo'), { name: 'echo' })
  assert.equal(await api.unload('echo'), undefined)
  await api.reload('echo')
  await api.grant('notes', 'storage')
  await api.revoke('notes', 'storage')
  await api.audit()
  await api.pendingPermissions()
  await api.answerPermission(3, true)
  await api.send('echo', 'note', [1])
  await api.publish('counter.reset')
  assert.deepEqual(
    app.calls.map((c) => [c.cmd, c.args]),
    [
      ['plugin:wasp|plugins', {}],
      ['plugin:wasp|load_failures', {}],
      ['plugin:wasp|load', { path: 'echo' }],
      ['plugin:wasp|unload', { name: 'echo' }],
      ['plugin:wasp|reload', { name: 'echo' }],
      ['plugin:wasp|grant', { plugin: 'notes', permission: 'storage' }],
      ['plugin:wasp|revoke', { plugin: 'notes', permission: 'storage' }],
      ['plugin:wasp|audit', {}],
      ['plugin:wasp|pending_permissions', {}],
      ['plugin:wasp|answer_permission', { id: 3, allow: true }],
      ['plugin:wasp|send', { to: 'echo', topic: 'note', payload: [1] }],
      ['plugin:wasp|publish', { topic: 'counter.reset', payload: undefined }]
    ]
  )
})

test('failures reject with a WaspError carrying code and message', async () => {
  const app = appWindow({
    backend: {
      request: () => {
        throw { code: 'permission_denied', message: 'notes may not use storage' }
      }
    }
  })
  const api = app.__TAURI_PLUGIN_WASP__
  await assert.rejects(api.request('notes', 'add', { text: 'x' }), (e) => {
    assert.ok(e instanceof api.WaspError)
    assert.ok(e instanceof Error)
    assert.equal(e.code, 'permission_denied')
    assert.equal(e.message, 'notes may not use storage')
    assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'permission_denied', message: 'notes may not use storage' })
    return true
  })
  // Tauri itself rejects with a string (a command the capability does not allow, ...).
  await assert.rejects(api.audit(), { code: 'ipc', message: 'command plugin:wasp|audit not found' })
})

test('the raw forms send bytes with headers and resolve to bytes', async () => {
  const app = appWindow({
    backend: {
      request: (body) => new Uint8Array([...body, 0xc0]).buffer,
      send: () => null,
      publish: () => null
    }
  })
  const api = app.__TAURI_PLUGIN_WASP__
  const reply = await api.requestRaw('echo', 'say', new Uint8Array([0xa1, 0x61]), { timeoutMs: 40 })
  assert.ok(reply instanceof Uint8Array)
  assert.deepEqual([...reply], [0xa1, 0x61, 0xc0])
  const [req] = app.callsOf('plugin:wasp|request')
  assert.ok(req.args instanceof Uint8Array)
  assert.deepEqual(req.options.headers, { 'wasp-to': 'echo', 'wasp-topic': 'say', 'wasp-timeout-ms': '40' })
  await api.sendRaw('echo', 'note', new Uint8Array([1]))
  await api.publishRaw('echo.seen', new Uint8Array([2]))
  assert.deepEqual(app.callsOf('plugin:wasp|send')[0].options.headers, { 'wasp-to': 'echo', 'wasp-topic': 'note' })
  assert.deepEqual(app.callsOf('plugin:wasp|publish')[0].options.headers, { 'wasp-topic': 'echo.seen' })

  // The postMessage IPC fallback answers an array of numbers.
  const fallback = appWindow({ backend: { request: () => [1, 2, 3] } })
  assert.deepEqual([...(await fallback.__TAURI_PLUGIN_WASP__.requestRaw('echo', 'x', new Uint8Array()))], [1, 2, 3])
})

test('listen subscribes with a channel of its own, delivers its events in order, and unlisten ends both', async () => {
  const app = appWindow()
  const seen = []
  // An event the host sends between the subscription and its answer.
  const early = { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 2 }
  app.onSubscribe = ({ channel }) => app.toChannel(channel, early)
  const unlisten = await app.__TAURI_PLUGIN_WASP__.listen('counter.*', (e) => seen.push(e))
  app.onSubscribe = null
  const [subscribe] = app.callsOf('plugin:wasp|subscribe')
  const channel = Number(subscribe.args.channel.toJSON().split(':')[1])
  assert.deepEqual(Object.keys(subscribe.args).sort(), ['channel', 'panel', 'pattern'])
  assert.equal(subscribe.args.pattern, 'counter.*')
  assert.equal(subscribe.args.panel, undefined)
  // No Tauri event is listened to: nothing another page could name.
  assert.equal(app.callsOf('plugin:event|listen').length, 0)
  const event = { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 3 }
  app.toChannel(channel, event)
  assert.deepEqual(seen, [early, event])

  // Every listen has its own channel.
  const again = await app.__TAURI_PLUGIN_WASP__.listen('counter.*', () => {})
  assert.notEqual(app.callsOf('plugin:wasp|subscribe')[1].args.channel.toJSON(), subscribe.args.channel.toJSON())
  await again()
  app.calls.length = 0

  await unlisten()
  await unlisten()
  assert.deepEqual(app.callsOf('plugin:wasp|unsubscribe').map((c) => c.args), [{ id: 100 }])
  assert.equal(app.callbacks.has(channel), false, 'the channel callback is unregistered')
  app.toChannel(channel, { ...event, payload: 4 })
  assert.equal(seen.length, 2)
})

test('a refused subscribe rejects with a WaspError and drops its channel', async () => {
  const refuse = () => {
    throw { code: 'permission_denied', message: 'no subscribe:secret.*' }
  }
  const app = appWindow({ backend: { subscribe: refuse } })
  const api = app.__TAURI_PLUGIN_WASP__
  await assert.rejects(api.listen('secret.*', () => {}), (e) => {
    assert.ok(e instanceof api.WaspError)
    assert.equal(e.code, 'permission_denied')
    return true
  })
  assert.deepEqual(
    app.calls.map((c) => c.cmd),
    ['plugin:wasp|subscribe']
  )
  const channel = Number(app.calls[0].args.channel.toJSON().split(':')[1])
  assert.equal(app.callbacks.has(channel), false, 'the refused channel is unregistered')

  // The same for a panel, which hears the error.
  const { app: host, wasp } = mounted({ subscribe: refuse })
  await assert.rejects(wasp.listen('secret.*', () => {}), { code: 'permission_denied' })
  assert.equal(liveChannels(host), 0)
  assert.equal(host.callsOf('plugin:wasp|unsubscribe').length, 0)
})

test('onLoadFailed delivers the failures of wasp://load-failed until stopped', async () => {
  const app = appWindow()
  const failures = []
  const stop = await app.__TAURI_PLUGIN_WASP__.onLoadFailed((failure) => failures.push(failure))
  const failure = { path: '/app/plugins', code: 'not_found', message: 'plugin directory `/app/plugins` cannot be read' }
  app.emit('wasp://load-failed', failure)
  await stop()
  await stop()
  app.emit('wasp://load-failed', { ...failure, path: '/elsewhere' })
  assert.deepEqual(failures, [failure])
})

test('onPermissionAsk delivers the asks of wasp://permission', async () => {
  const app = appWindow()
  const asks = []
  const stop = await app.__TAURI_PLUGIN_WASP__.onPermissionAsk((ask) => asks.push(ask))
  const ask = { id: 1, plugin: 'notes', version: '0.1.0', permission: 'storage', description: null }
  app.emit('wasp://permission', ask)
  await stop()
  app.emit('wasp://permission', { ...ask, id: 2 })
  assert.deepEqual(asks, [ask])
})

test('panelUrl follows the platform form of the wasp-ui scheme', () => {
  const api = appWindow().__TAURI_PLUGIN_WASP__
  assert.equal(api.panelUrl('counter'), 'wasp-ui://localhost/counter/index.html')
  assert.equal(api.panelUrl('counter', '/css/a b.css'), 'wasp-ui://localhost/counter/css/a%20b.css')
  const windows = appWindow({
    fileSrc: (path, protocol) => `http://${protocol}.localhost/${encodeURIComponent(path)}`
  }).__TAURI_PLUGIN_WASP__
  assert.equal(windows.panelUrl('counter', '_wasp/panel.js'), 'http://wasp-ui.localhost/counter/_wasp/panel.js')
})

test('mountPanel puts a sandboxed iframe of the panel in the container', () => {
  const { container, panel } = mounted({})
  assert.deepEqual(container.children, [panel.iframe])
  assert.equal(panel.iframe.getAttribute('sandbox'), 'allow-scripts')
  assert.equal(panel.iframe.id, 'panel-counter-frame')
  assert.equal(panel.iframe.src, 'wasp-ui://localhost/counter/index.html')
  const other = mounted({}, { id: 'mine', path: 'big.html' })
  assert.equal(other.panel.iframe.id, 'mine')
  assert.equal(other.panel.iframe.src, 'wasp-ui://localhost/counter/big.html')
})

test('a panel request runs under the panel plugin and answers the panel', async () => {
  let value = 0
  const { app, wasp } = mounted({
    request: ({ topic, payload }) => {
      if (topic !== 'add') throw { code: 'not_found', message: `counter has no topic \`${topic}\`` }
      value += payload
      return value
    },
    send: () => null,
    publish: () => null
  })
  assert.equal(await wasp.request('counter', 'add', 1), 1)
  assert.equal(await wasp.request('counter', 'add', 2, { timeoutMs: 100 }), 3)
  assert.deepEqual(app.callsOf('plugin:wasp|request').map((c) => c.args), [
    { to: 'counter', topic: 'add', payload: 1, timeoutMs: undefined, panel: 'counter' },
    { to: 'counter', topic: 'add', payload: 2, timeoutMs: 100, panel: 'counter' }
  ])
  await assert.rejects(wasp.request('counter', 'nope'), (e) => {
    assert.equal(e.code, 'not_found')
    assert.equal(e.message, 'counter has no topic `nope`')
    return true
  })
  assert.equal(await wasp.send('echo', 'note', 'x'), undefined)
  assert.equal(await wasp.publish('counter.changed', 9), undefined)
  assert.deepEqual(app.callsOf('plugin:wasp|send')[0].args, { to: 'echo', topic: 'note', payload: 'x', panel: 'counter' })
  assert.deepEqual(app.callsOf('plugin:wasp|publish')[0].args, { topic: 'counter.changed', payload: 9, panel: 'counter' })
})

test('a panel listens under its plugin, gets events after the id, and unlistens', async () => {
  const { app, panel, wasp } = mounted({})
  // An event the host sends between the subscription and its answer: the
  // bridge holds it until the panel knows the id (panel.js drops events of
  // subscriptions it does not know).
  app.onSubscribe = ({ id, channel }) => {
    app.toChannel(channel, { subscription: id, topic: 'counter.changed', from: 'counter', payload: 1 })
  }
  const seen = []
  const unlisten = await wasp.listen('counter.changed', (e) => seen.push(e))
  app.onSubscribe = null
  const [subscribe] = app.callsOf('plugin:wasp|subscribe')
  assert.equal(subscribe.args.pattern, 'counter.changed')
  assert.equal(subscribe.args.panel, 'counter')
  const channel = Number(subscribe.args.channel.toJSON().split(':')[1])
  app.toChannel(channel, { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 2 })
  // Only the parent speaks to the panel.
  const frame = panel.iframe.contentWindow
  frame.deliver({ wasp: 1, event: { subscription: 100, topic: 'counter.changed', from: 'x', payload: 0 } }, new FakeWindow())
  await settle()
  assert.deepEqual(seen, [
    { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 1 },
    { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 2 }
  ])
  await unlisten()
  assert.deepEqual(app.callsOf('plugin:wasp|unsubscribe').map((c) => c.args), [{ id: 100 }])
  app.toChannel(channel, { subscription: 100, topic: 'counter.changed', from: 'counter', payload: 3 })
  await settle()
  assert.equal(seen.length, 2)
  assert.equal(app.callbacks.has(channel), false)
})

test('the bridge answers only its own frame, and refuses what a panel may not do', async () => {
  const { app, panel, wasp } = mounted({ request: () => 'answered', unsubscribe: () => null })
  const outsider = new FakeWindow()
  const replies = []
  outsider.postMessage = (data) => replies.push(data)
  app.deliver({ wasp: 1, id: 1, op: 'request', to: 'notes', topic: 'add', payload: 'x' }, outsider)
  app.deliver({ wasp: 1, id: 2, op: 'request', to: 'notes', topic: 'add', payload: 'x' }, null)
  await settle()
  assert.equal(app.callsOf('plugin:wasp|request').length, 0)
  assert.deepEqual(replies, [])

  // Malformed operations and other panels' subscriptions are refused.
  const frame = panel.iframe.contentWindow
  const answers = []
  frame.addEventListener('message', (e) => answers.push(e.data))
  for (const msg of [
    { wasp: 1, id: 900, op: 'launch' },
    { wasp: 1, id: 901, op: 'request', to: 'echo' },
    { wasp: 1, id: 902, op: 'unlisten', subscription: 5 },
    { wasp: 1, id: 903, op: 'request', to: 'echo', topic: 'x', timeoutMs: -1 }
  ]) {
    frame.parentPost(msg)
  }
  await settle()
  assert.deepEqual(
    answers.sort((a, b) => a.id - b.id).map((a) => [a.id, a.error.code]),
    [
      [900, 'invalid_message'],
      [901, 'invalid_argument'],
      [902, 'not_found'],
      [903, 'invalid_argument']
    ]
  )
  assert.equal(app.callsOf('plugin:wasp|unsubscribe').length, 0)
  assert.equal(await wasp.request('echo', 'x'), 'answered')
})

test('destroy removes the frame, drops its subscriptions and stops the bridge', async () => {
  const { app, container, panel, wasp } = mounted({ request: () => 'late' })
  await wasp.listen('counter.*', () => {})
  await wasp.listen('echo.seen', () => {})
  const [first, second] = app.callsOf('plugin:wasp|subscribe').map((c) => c.args.channel.toJSON())
  assert.notEqual(first, second)
  const frame = panel.iframe.contentWindow
  assert.equal(app.listenerCount('message'), 1)
  await panel.destroy()
  await panel.destroy()
  assert.deepEqual(container.children, [])
  assert.equal(app.listenerCount('message'), 0)
  assert.deepEqual(app.callsOf('plugin:wasp|unsubscribe').map((c) => c.args.id).sort(), [100, 101])
  assert.equal(liveChannels(app), 0)
  frame.parentPost({ wasp: 1, id: 77, op: 'request', to: 'echo', topic: 'x' })
  await settle()
  assert.equal(app.callsOf('plugin:wasp|request').length, 0)
})

test('a panel destroyed while subscribing drops the subscription it gets', async () => {
  const { app, panel, wasp } = mounted({})
  app.onSubscribe = () => {
    void panel.destroy()
  }
  const answer = wasp.listen('counter.*', () => {})
  await settle()
  assert.deepEqual(app.callsOf('plugin:wasp|unsubscribe').map((c) => c.args), [{ id: 100 }])
  assert.equal(liveChannels(app), 0)
  // The frame is gone: the panel hears nothing more.
  let settled = false
  answer.then(() => (settled = true), () => (settled = true))
  await settle()
  assert.equal(settled, false)
})

test('panel.js outside a panel rejects instead of posting to itself', async () => {
  const lone = new FakeWindow()
  lone.parent = lone
  new Function('window', panelSource)(lone)
  await assert.rejects(lone.wasp.request('echo', 'x'), { code: 'unavailable' })
})

test('a request with an AbortSignal carries a ticket and cancels with it', async () => {
  const waiting = new Map() // ticket -> reject
  const app = appWindow({
    backend: {
      request: (args, options) =>
        new Promise((_, reject) => waiting.set(args?.cancel ?? options?.headers?.['wasp-cancel'], reject)),
      cancel: ({ ticket }) => {
        waiting.get(ticket)?.({ code: 'cancelled', message: 'the request to `slow` was cancelled by its caller' })
        return null
      }
    }
  })
  const api = app.__TAURI_PLUGIN_WASP__
  const controller = new AbortController()
  const pending = api.request('slow', 'work', 1, { signal: controller.signal })
  await settle()
  const { cancel } = app.callsOf('plugin:wasp|request')[0].args
  assert.match(cancel, /^[0-9a-f]{32}$/, 'a 128-bit random ticket')
  controller.abort()
  await assert.rejects(pending, (e) => e.code === 'cancelled' && e.name === 'WaspError')
  assert.deepEqual(app.callsOf('plugin:wasp|cancel')[0].args, { ticket: cancel })
  // Raw requests carry it in a header; two requests never share a ticket.
  const raw = api.requestRaw('slow', 'work', new Uint8Array([0xc0]), { signal: new AbortController().signal })
  await settle()
  const header = app.callsOf('plugin:wasp|request')[1].options.headers['wasp-cancel']
  assert.match(header, /^[0-9a-f]{32}$/)
  assert.notEqual(header, cancel)
  waiting.get(header)({ code: 'timeout', message: 'no answer' })
  await assert.rejects(raw, (e) => e.code === 'timeout')
  // An aborted signal: nothing is sent.
  const before = app.calls.length
  await assert.rejects(api.request('slow', 'work', 1, { signal: AbortSignal.abort() }), (e) => e.code === 'cancelled')
  assert.equal(app.calls.length, before)
})

test('serve answers plugin calls through its channel, errors included, and aborts cancelled ones', async () => {
  let channel
  const app = appWindow({
    backend: {
      serve: (args) => {
        channel = Number(args.channel.toJSON().split(':')[1])
        return null
      },
      answer: () => null,
      withdraw: () => null
    }
  })
  const api = app.__TAURI_PLUGIN_WASP__
  let signal
  const withdraw = await api.serve('files.pick', async (call) => {
    if (call.payload === 'fail') throw new Error('the user closed the dialog')
    if (call.payload === 'wait') {
      signal = call.signal
      return await new Promise(() => {})
    }
    return { name: 'notes.txt', from: call.plugin, fn: call.function }
  })
  assert.equal(app.callsOf('plugin:wasp|serve')[0].args.function, 'files.pick')
  app.toChannel(channel, { kind: 'call', id: 1, function: 'files.pick', plugin: 'notes', payload: null })
  app.toChannel(channel, { kind: 'call', id: 2, function: 'files.pick', plugin: 'notes', payload: 'fail' })
  app.toChannel(channel, { kind: 'call', id: 3, function: 'files.pick', plugin: 'notes', payload: 'wait' })
  await settle()
  const answers = app.callsOf('plugin:wasp|answer').map((c) => c.args)
  assert.deepEqual(answers, [
    { id: 1, payload: { name: 'notes.txt', from: 'notes', fn: 'files.pick' } },
    { id: 2, error: 'the user closed the dialog' }
  ])
  assert.equal(signal.aborted, false)
  app.toChannel(channel, { kind: 'cancel', id: 3 })
  assert.equal(signal.aborted, true)
  await withdraw()
  await withdraw()
  assert.deepEqual(app.callsOf('plugin:wasp|withdraw').map((c) => c.args), [{ function: 'files.pick' }])
})
