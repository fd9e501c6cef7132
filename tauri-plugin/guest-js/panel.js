// The panel side of wasp's UI bridge, served to every panel as
// `/<plugin>/_wasp/panel.js`: load it with `<script src="_wasp/panel.js">`.
//
// A panel runs in a sandboxed iframe (an opaque origin, no Tauri IPC). This
// script gives it `window.wasp` with `request`, `send`, `publish` and
// `listen`; each call is a postMessage to the parent page, whose bridge
// (`mountPanel` of the plugin's JS API) performs it under the panel plugin's
// permissions and answers. A failed call rejects with an Error carrying
// `code` and `message`, e.g. `permission_denied`.
;(function () {
  'use strict'

  if (window.wasp) {
    return
  }

  var parent = window.parent
  var nextId = 1
  // request id -> {resolve, reject}
  var pending = new Map()
  // subscription id -> handler
  var handlers = new Map()

  function waspError(error) {
    var code = error && typeof error.code === 'string' ? error.code : 'internal'
    var message = error && typeof error.message === 'string' ? error.message : String(code)
    var e = new Error(message)
    e.name = 'WaspError'
    e.code = code
    return e
  }

  function call(message) {
    return new Promise(function (resolve, reject) {
      if (parent === window) {
        reject(waspError({ code: 'unavailable', message: 'this page is not mounted as a wasp panel' }))
        return
      }
      var id = nextId++
      pending.set(id, { resolve: resolve, reject: reject })
      message.wasp = 1
      message.id = id
      try {
        // The parent's origin is unknown here (tauri://localhost,
        // http://tauri.localhost, ...); the parent checks who sent it.
        parent.postMessage(message, '*')
      } catch (error) {
        pending.delete(id)
        reject(waspError({ code: 'invalid_argument', message: String(error && error.message ? error.message : error) }))
      }
    })
  }

  window.addEventListener('message', function (event) {
    if (event.source !== parent) {
      return
    }
    var data = event.data
    if (!data || data.wasp !== 1) {
      return
    }
    if (data.event) {
      var handler = handlers.get(data.event.subscription)
      if (handler) {
        handler(data.event)
      }
      return
    }
    var waiting = pending.get(data.id)
    if (!waiting) {
      return
    }
    pending.delete(data.id)
    if (data.error) {
      waiting.reject(waspError(data.error))
    } else {
      waiting.resolve(data.ok)
    }
  })

  function listen(pattern, handler) {
    if (typeof handler !== 'function') {
      return Promise.reject(waspError({ code: 'invalid_argument', message: 'listen needs a handler function' }))
    }
    return call({ op: 'listen', pattern: pattern }).then(function (subscription) {
      handlers.set(subscription, handler)
      var stopped = false
      return function unlisten() {
        if (stopped) {
          return Promise.resolve()
        }
        stopped = true
        handlers.delete(subscription)
        return call({ op: 'unlisten', subscription: subscription }).then(function () {})
      }
    })
  }

  var wasp = {
    /** Sends a request and resolves to the reply. `options.timeoutMs` bounds the wait. */
    request: function (to, topic, payload, options) {
      var message = { op: 'request', to: to, topic: topic, payload: payload }
      if (options && options.timeoutMs !== undefined) {
        message.timeoutMs = options.timeoutMs
      }
      return call(message)
    },
    /** Sends a one-way message. */
    send: function (to, topic, payload) {
      return call({ op: 'send', to: to, topic: topic, payload: payload }).then(function () {})
    },
    /** Publishes an event. */
    publish: function (topic, payload) {
      return call({ op: 'publish', topic: topic, payload: payload }).then(function () {})
    },
    /** Calls handler({subscription, topic, from, payload}) per matching event; resolves to unlisten(). */
    listen: listen
  }

  Object.defineProperty(window, 'wasp', { value: Object.freeze(wasp), enumerable: true })
})()
