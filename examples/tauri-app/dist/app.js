// The wasp Tauri example's frontend: polls the loaded plugins, sends requests
// to the example plugins, shows the event stream and the permission prompt,
// and mounts the counter's UI panel. It uses only the global API that
// tauri-plugin-wasp injects (`window.__TAURI_PLUGIN_WASP__`).
;(function () {
  'use strict'

  const POLL_MS = 500
  const MAX_EVENTS = 100
  // The plugins the app loads at start without asking; `notes` joins once its
  // permissions are answered.
  const EXPECTED = ['echo', 'counter', 'spinner']

  const $ = (id) => document.getElementById(id)
  const wasp = window.__TAURI_PLUGIN_WASP__

  function describe(error) {
    if (error && typeof error.code === 'string') {
      return `${error.code}: ${error.message}`
    }
    return String(error)
  }

  function showError(error) {
    $('error').textContent = describe(error)
  }

  if (!wasp) {
    showError({ code: 'unavailable', message: 'tauri-plugin-wasp is not loaded in this page' })
    return
  }

  // ---- Load failures ------------------------------------------------------

  // A plugin folder that failed to load at start (autoload) says why here,
  // whether or not the app installed a log subscriber.
  function showLoadFailure(failure) {
    showError({ code: failure.code, message: `${failure.path}: ${failure.message}` })
  }
  wasp.onLoadFailed(showLoadFailure).catch(showError)
  wasp.loadFailures().then((failures) => failures.forEach(showLoadFailure), showError)

  // ---- Plugins ------------------------------------------------------------

  function formatBytes(bytes) {
    if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
    if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`
    return `${bytes} B`
  }

  function formatMicros(micros) {
    if (micros >= 1e6) return `${(micros / 1e6).toFixed(2)} s`
    return `${(micros / 1000).toFixed(1)} ms`
  }

  function cell(row, name) {
    let td = row.querySelector(`td.${name}`)
    if (!td) {
      td = document.createElement('td')
      td.className = name
      row.appendChild(td)
    }
    return td
  }

  function renderPlugins(entries) {
    const body = $('plugins')
    const seen = new Set()
    for (const p of entries) {
      seen.add(p.name)
      let row = body.querySelector(`tr[data-plugin="${CSS.escape(p.name)}"]`)
      if (!row) {
        row = document.createElement('tr')
        row.dataset.plugin = p.name
        for (const name of ['name', 'kind', 'state', 'handled', 'faults', 'busy', 'memory']) cell(row, name)
        body.appendChild(row)
      }
      const m = p.metrics
      cell(row, 'name').textContent = p.name
      cell(row, 'name').title = `${p.name} ${p.version}\npermissions: ${p.permissions.join(', ') || 'none'}`
      cell(row, 'kind').textContent = p.kind
      const state = cell(row, 'state')
      state.textContent = p.state
      state.dataset.state = p.state
      state.title = p.quarantineReason || ''
      cell(row, 'handled').textContent = String(m.handled)
      cell(row, 'faults').textContent = String(m.faults)
      cell(row, 'busy').textContent = formatMicros(m.busyMicros)
      cell(row, 'memory').textContent = formatBytes(m.memoryBytes)
    }
    for (const row of [...body.rows]) {
      if (!seen.has(row.dataset.plugin)) row.remove()
    }
    const ready = EXPECTED.every((name) => seen.has(name))
    const status = $('status')
    status.textContent = ready ? 'ready' : 'loading plugins…'
    status.classList.toggle('ready', ready)
  }

  // ---- The counter's panel -----------------------------------------------

  let counterPanel = null

  function mountCounterPanel(entries) {
    const counter = entries.find((p) => p.name === 'counter')
    if (counter && counter.hasUi && !counterPanel) {
      counterPanel = wasp.mountPanel($('panel-counter'), 'counter', { id: 'panel-counter-frame' })
    } else if (!counter && counterPanel) {
      counterPanel.destroy().catch(showError)
      counterPanel = null
    }
  }

  // ---- Permission prompt -------------------------------------------------

  let asks = [] // waiting PermissionAsks, the first one shown
  const answered = new Set()
  let answering = false

  function renderPrompt() {
    const ask = asks[0]
    const prompt = $('permission-prompt')
    if (!ask) {
      prompt.hidden = true
      return
    }
    $('permission-text').textContent = `${ask.plugin} ${ask.version} asks for the permission “${ask.permission}”`
    $('permission-description').textContent = ask.description || ''
    $('permission-allow').disabled = answering
    $('permission-deny').disabled = answering
    prompt.hidden = false
  }

  function addAsk(ask) {
    if (!answered.has(ask.id) && !asks.some((a) => a.id === ask.id)) {
      asks.push(ask)
      renderPrompt()
    }
  }

  // Only adds: an ask the host dropped meanwhile fails when answered, which
  // shows the error and moves on, and the prompt never changes under a click.
  function syncAsks(pending) {
    pending.forEach(addAsk)
  }

  async function answer(allow) {
    const ask = asks[0]
    if (!ask || answering) return
    answering = true
    renderPrompt()
    try {
      await wasp.answerPermission(ask.id, allow)
    } catch (error) {
      showError(error)
    } finally {
      answered.add(ask.id)
      asks = asks.filter((a) => a.id !== ask.id)
      answering = false
      renderPrompt()
    }
  }

  $('permission-allow').addEventListener('click', () => answer(true))
  $('permission-deny').addEventListener('click', () => answer(false))

  // ---- Polling -------------------------------------------------------------

  async function poll() {
    try {
      const entries = await wasp.plugins()
      renderPlugins(entries)
      mountCounterPanel(entries)
      syncAsks(await wasp.pendingPermissions())
    } catch (error) {
      showError(error)
    } finally {
      setTimeout(poll, POLL_MS)
    }
  }

  // ---- Requests ----------------------------------------------------------

  $('echo-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    try {
      $('echo-reply').textContent = await wasp.request('echo', 'say', $('echo-input').value)
    } catch (error) {
      $('echo-reply').textContent = ''
      showError(error)
    }
  })

  $('spin').addEventListener('click', async () => {
    const result = $('spin-result')
    result.textContent = 'spinning…'
    try {
      result.textContent = JSON.stringify(await wasp.request('spinner', 'spin'))
    } catch (error) {
      result.textContent = error && error.code ? error.code : String(error)
      showError(error)
    }
  })

  $('ping').addEventListener('click', async () => {
    const result = $('ping-result')
    result.textContent = '…'
    try {
      result.textContent = await wasp.request('spinner', 'ping')
    } catch (error) {
      result.textContent = error && error.code ? error.code : String(error)
      showError(error)
    }
  })

  $('note-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const result = $('note-result')
    result.textContent = '…'
    try {
      const reply = await wasp.request('notes', 'add', { text: $('note-input').value })
      result.textContent = typeof reply === 'string' ? reply : JSON.stringify(reply)
    } catch (error) {
      result.textContent = describe(error)
      showError(error)
    }
  })

  // `notes`' `import` asks the app for a file (the app's function
  // `files.pick`, which this page serves): the file chooser below.
  $('note-import').addEventListener('click', async () => {
    const result = $('note-result')
    result.textContent = '…'
    try {
      result.textContent = `imported as ${await wasp.request('notes', 'import')}`
    } catch (error) {
      result.textContent = describe(error)
      showError(error)
    }
  })

  // ---- The app's function `files.pick`: a file chosen by the user ---------

  // Answers `{ name, text }` once the user picks a file; rejects (the plugin
  // gets code `plugin`) when they cancel, and closes when the plugin stops
  // waiting (`signal`).
  function pickFile({ plugin, signal }) {
    return new Promise((resolve, reject) => {
      const prompt = $('file-prompt')
      const input = $('file-input')
      input.value = ''
      $('file-text').textContent = `“${plugin}” asks for a file. Choose one to give it:`
      prompt.hidden = false
      const done = () => {
        prompt.hidden = true
        input.onchange = null
        $('file-cancel').onclick = null
        signal.onabort = null
      }
      input.onchange = async () => {
        const file = input.files && input.files[0]
        if (!file) return
        done()
        try {
          resolve({ name: file.name, text: await file.text() })
        } catch (error) {
          reject(error)
        }
      }
      $('file-cancel').onclick = () => {
        done()
        reject(new Error('the user chose no file'))
      }
      signal.onabort = () => {
        done()
        reject(new Error('no longer wanted'))
      }
    })
  }

  // ---- Events --------------------------------------------------------------

  function showEvent(event) {
    const li = document.createElement('li')
    const topic = document.createElement('span')
    topic.className = 'topic'
    topic.textContent = event.topic
    const from = document.createElement('span')
    from.className = 'from'
    from.textContent = event.from
    const payload = document.createElement('code')
    payload.className = 'payload'
    payload.textContent = JSON.stringify(event.payload === undefined ? null : event.payload)
    li.append(topic, ' from ', from, ': ', payload)
    const list = $('events')
    list.prepend(li)
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove()
  }

  async function subscribeAll() {
    try {
      await wasp.listen('*', showEvent)
    } catch (error) {
      showError(error)
      setTimeout(subscribeAll, 1000)
    }
  }

  // ---- Start ---------------------------------------------------------------

  async function start() {
    // Listen first, then read what was asked before the page was here.
    try {
      await wasp.onPermissionAsk(addAsk)
    } catch (error) {
      showError(error)
    }
    await subscribeAll()
    try {
      await wasp.serve('files.pick', pickFile)
    } catch (error) {
      showError(error)
    }
    poll()
  }

  start()
})()
