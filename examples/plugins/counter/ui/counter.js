// The counter panel: `#add` asks the counter to add 1; `#value` shows the
// value from the replies and from `counter.changed` events.
;(function () {
  'use strict'

  const value = document.getElementById('value')
  const error = document.getElementById('panel-error')
  let shown = false

  function show(n) {
    shown = true
    value.textContent = String(n)
  }

  function fail(e) {
    error.textContent = e && e.code ? `${e.code}: ${e.message}` : String(e)
  }

  document.getElementById('add').addEventListener('click', () => {
    window.wasp.request('counter', 'add', 1).then(show, fail)
  })

  window.wasp.listen('counter.changed', (event) => show(event.payload)).catch(fail)

  // The value at start, unless an add or an event was quicker.
  window.wasp.request('counter', 'get').then((n) => {
    if (!shown) show(n)
  }, fail)
})()
