// The chat page: conversations kept in localStorage, replies streamed from the server's
// OpenAI endpoint (Server-Sent Events), a stop button that aborts the request (the server
// notices the closed connection and frees the slot), and the speed of each reply.
(function () {
  'use strict';

  const STORE = 'graft.conversations.v1';
  const SETTINGS = 'graft.settings.v1';
  const $ = (id) => document.getElementById(id);
  const md = window.graftMarkdown;

  const els = {
    sidebar: $('sidebar'), conversations: $('conversations'), newChat: $('new-chat'),
    model: $('model'), messages: $('messages'), empty: $('empty'), composer: $('composer'),
    prompt: $('prompt'), send: $('send'), stop: $('stop'), settings: $('settings'),
    toggleSettings: $('toggle-settings'), toggleSidebar: $('toggle-sidebar'),
    temperature: $('temperature'), temperatureValue: $('temperature-value'),
    maxTokens: $('max-tokens'), systemPrompt: $('system-prompt'), apiKey: $('api-key'),
    health: $('health'),
  };

  // --- storage ----------------------------------------------------------------------------

  function load(key, fallback) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null ? fallback : v;
    } catch (_) {
      return fallback;
    }
  }
  function save(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* full or private */ }
  }

  const settings = Object.assign(
    { temperature: 0.7, maxTokens: 512, system: '', apiKey: '', model: '' }, load(SETTINGS, {}));
  let conversations = load(STORE, []);
  if (!Array.isArray(conversations)) conversations = [];
  let currentId = conversations.length ? conversations[0].id : null;
  let running = null; // {controller, conversationId}

  function persist() { save(STORE, conversations); }
  function current() { return conversations.find((c) => c.id === currentId) || null; }
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }

  // --- settings ---------------------------------------------------------------------------

  function showSettings() {
    els.temperature.value = settings.temperature;
    els.temperatureValue.textContent = Number(settings.temperature).toFixed(2);
    els.maxTokens.value = settings.maxTokens;
    els.systemPrompt.value = settings.system;
    els.apiKey.value = settings.apiKey;
  }
  function readSettings() {
    settings.temperature = Number(els.temperature.value);
    settings.maxTokens = Math.max(1, Math.floor(Number(els.maxTokens.value) || 512));
    settings.system = els.systemPrompt.value;
    settings.apiKey = els.apiKey.value.trim();
    settings.model = els.model.value;
    els.temperatureValue.textContent = settings.temperature.toFixed(2);
    save(SETTINGS, settings);
  }
  for (const el of [els.temperature, els.maxTokens, els.systemPrompt, els.apiKey, els.model]) {
    el.addEventListener('input', readSettings);
    el.addEventListener('change', readSettings);
  }
  els.apiKey.addEventListener('change', () => loadModels());
  els.toggleSettings.addEventListener('click', () => {
    els.settings.hidden = !els.settings.hidden;
    els.toggleSettings.setAttribute('aria-expanded', String(!els.settings.hidden));
  });
  els.toggleSidebar.addEventListener('click', () => els.sidebar.classList.toggle('open'));

  function headers() {
    const h = { 'Content-Type': 'application/json' };
    if (settings.apiKey) h.Authorization = 'Bearer ' + settings.apiKey;
    return h;
  }

  // --- models and health ------------------------------------------------------------------

  async function loadModels() {
    try {
      const r = await fetch('/v1/models', { headers: headers() });
      const body = await r.json();
      if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
      els.model.textContent = '';
      for (const m of body.data) {
        const o = document.createElement('option');
        o.value = o.textContent = m.id;
        els.model.appendChild(o);
      }
      if (body.data.some((m) => m.id === settings.model)) els.model.value = settings.model;
      settings.model = els.model.value;
    } catch (e) {
      els.model.textContent = '';
      const o = document.createElement('option');
      o.textContent = 'models unavailable: ' + e.message;
      o.value = '';
      els.model.appendChild(o);
    }
  }

  async function pollHealth() {
    try {
      const r = await fetch('/health');
      const body = await r.json();
      els.health.textContent = body.status;
      els.health.className = 'health ' + (r.ok ? 'ok' : 'busy');
      if (!r.ok) setTimeout(pollHealth, 1000);
    } catch (_) {
      els.health.textContent = 'offline';
      els.health.className = 'health bad';
      setTimeout(pollHealth, 3000);
    }
  }

  // --- rendering --------------------------------------------------------------------------

  function renderList() {
    els.conversations.textContent = '';
    for (const c of conversations) {
      const row = document.createElement('div');
      row.className = 'conversation' + (c.id === currentId ? ' active' : '');
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'conversation-title';
      open.textContent = c.title || 'New chat';
      open.title = c.title || 'New chat';
      open.addEventListener('click', () => { currentId = c.id; renderAll(); });
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete';
      del.title = 'Delete this conversation';
      del.setAttribute('aria-label', 'Delete conversation');
      del.textContent = '×';
      del.addEventListener('click', (ev) => {
        ev.stopPropagation();
        if (running && running.conversationId === c.id) running.controller.abort();
        conversations = conversations.filter((x) => x.id !== c.id);
        if (currentId === c.id) currentId = conversations.length ? conversations[0].id : null;
        persist();
        renderAll();
      });
      row.append(open, del);
      els.conversations.appendChild(row);
    }
  }

  function messageElement(m) {
    const wrap = document.createElement('div');
    wrap.className = 'message ' + m.role;
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    wrap.appendChild(bubble);
    const meta = document.createElement('div');
    meta.className = 'meta';
    wrap.appendChild(meta);
    fillMessage(wrap, m);
    return wrap;
  }

  function fillMessage(wrap, m) {
    const bubble = wrap.querySelector('.bubble');
    if (m.role === 'assistant') {
      bubble.innerHTML = md.render(m.content) || (m.pending ? '<span class="typing"></span>' : '');
    } else {
      bubble.textContent = m.content;
    }
    const meta = wrap.querySelector('.meta');
    meta.textContent = '';
    if (m.error) {
      const err = document.createElement('span');
      err.className = 'error';
      err.textContent = m.error;
      meta.appendChild(err);
    }
    if (m.stats) {
      const s = document.createElement('span');
      s.className = 'stats';
      s.textContent = m.stats;
      meta.appendChild(s);
    }
    wrap.classList.toggle('pending', !!m.pending);
  }

  function renderMessages() {
    const c = current();
    for (const el of Array.from(els.messages.querySelectorAll('.message'))) el.remove();
    els.empty.hidden = !!(c && c.messages.length);
    if (!c) return;
    for (const m of c.messages) els.messages.appendChild(messageElement(m));
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function renderControls() {
    const busy = !!running;
    els.send.hidden = busy;
    els.stop.hidden = !busy;
  }

  function renderAll() { renderList(); renderMessages(); renderControls(); }

  els.messages.addEventListener('click', (ev) => {
    const button = ev.target.closest('.copy-code');
    if (!button) return;
    const code = button.closest('.code-block').querySelector('code');
    navigator.clipboard.writeText(code.textContent).then(() => {
      button.textContent = 'Copied';
      setTimeout(() => { button.textContent = 'Copy'; }, 1200);
    }, () => {});
  });

  // --- sending ----------------------------------------------------------------------------

  function newConversation() {
    const c = { id: newId(), title: '', messages: [], created: Date.now() };
    conversations.unshift(c);
    currentId = c.id;
    persist();
    return c;
  }

  els.newChat.addEventListener('click', () => {
    const c = current();
    if (!c || c.messages.length) newConversation();
    renderAll();
    els.prompt.focus();
  });

  els.prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      els.composer.requestSubmit();
    }
  });
  els.prompt.addEventListener('input', () => {
    els.prompt.style.height = 'auto';
    els.prompt.style.height = Math.min(els.prompt.scrollHeight, 240) + 'px';
  });
  els.stop.addEventListener('click', () => { if (running) running.controller.abort(); });

  els.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = els.prompt.value.trim();
    if (!text || running) return;
    els.prompt.value = '';
    els.prompt.style.height = 'auto';
    const c = current() || newConversation();
    if (!c.title) c.title = text.slice(0, 60);
    c.messages.push({ role: 'user', content: text });
    persist();
    generate(c);
  });

  // Reads Server-Sent Events from a fetch body: calls onEvent with each `data:` payload.
  async function readEvents(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split('\n').filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart()).join('\n');
        if (data && onEvent(data) === false) return;
      }
    }
  }

  async function generate(c) {
    const reply = { role: 'assistant', content: '', pending: true };
    const history = c.messages.filter((m) => !m.error || m.content)
      .map((m) => ({ role: m.role, content: m.content }));
    if (settings.system) history.unshift({ role: 'system', content: settings.system });
    c.messages.push(reply);
    const controller = new AbortController();
    running = { controller: controller, conversationId: c.id };
    renderAll();
    const el = els.messages.lastElementChild;
    const started = performance.now();
    let firstToken = 0;
    let usage = null;
    let chunks = 0;
    let scheduled = false;
    const update = () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (el.isConnected) {
          const nearBottom = els.messages.scrollHeight - els.messages.scrollTop -
            els.messages.clientHeight < 80;
          fillMessage(el, reply);
          if (nearBottom) els.messages.scrollTop = els.messages.scrollHeight;
        }
      });
    };
    try {
      const r = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: headers(),
        signal: controller.signal,
        body: JSON.stringify({
          model: settings.model || els.model.value,
          messages: history,
          stream: true,
          stream_options: { include_usage: true },
          temperature: settings.temperature,
          max_tokens: settings.maxTokens,
        }),
      });
      if (!r.ok) {
        let message = r.status + ' ' + r.statusText;
        try { message = (await r.json()).error.message || message; } catch (_) { /* not JSON */ }
        throw new Error(message);
      }
      await readEvents(r.body, (data) => {
        if (data === '[DONE]') return false;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          if (!firstToken) firstToken = performance.now();
          chunks++;
          reply.content += choice.delta.content;
          update();
        }
        if (choice && choice.finish_reason === 'length') reply.truncated = true;
        return true;
      });
    } catch (e) {
      if (e.name === 'AbortError') reply.stopped = true;
      else reply.error = e.message;
    }
    const ended = performance.now();
    const tokens = usage ? usage.completion_tokens : chunks;
    const parts = [];
    if (tokens && firstToken) {
      const seconds = Math.max((ended - firstToken) / 1000, 1e-3);
      const rate = tokens > 1 ? (tokens - 1) / seconds : tokens / seconds;
      parts.push(tokens + ' tokens', rate.toFixed(1) + ' tok/s',
        'first token ' + ((firstToken - started) / 1000).toFixed(2) + ' s');
    }
    if (reply.stopped) parts.push('stopped');
    if (reply.truncated) parts.push('max tokens reached');
    reply.stats = parts.join(' · ');
    delete reply.pending;
    running = null;
    persist();
    if (el.isConnected) fillMessage(el, reply);
    renderControls();
    els.prompt.focus();
  }

  // --- start ------------------------------------------------------------------------------

  showSettings();
  renderAll();
  loadModels();
  pollHealth();
  els.prompt.focus();
})();
