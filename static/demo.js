// The /demo host page: plays the part of "your app" in the three ways of opening the widget.
//
// - iframe and popup: asks the hub for a widget URL (POST /widgetUrl, as your server would)
//   and hands it to the embed SDK (/connect.js, window.ConnectHub), which shows the widget
//   and calls back onEvent / onSuccess / onError / onExit. Everything is listed on the right.
// - redirection: creates a redirection (POST /api/redirection, again as your server would),
//   sends the browser to its link, and when the browser comes back to
//   /demo?demo=redirection&redirectionId=… reads GET /api/redirection/{id} and shows it.
//
// This page calls those server APIs from the browser only because it is a demo running with
// authentication off; in your app they are calls from your server. Text goes in with
// textContent only.

const form = document.getElementById('demo-form');
const status = document.getElementById('demo-status');
const placeholder = document.getElementById('widget-placeholder');
const widgetBox = document.getElementById('widget-box');
const popupNote = document.getElementById('popup-note');
const result = document.getElementById('redirection-result');
const accessField = document.getElementById('access-field');
const events = document.getElementById('events');
const empty = document.getElementById('events-empty');
const start = document.getElementById('start');
const RETURN_MARKER = 'redirection';
let messages = {};
let current = null; // the SDK handle of the open widget

function t(key, vars = {}) {
  const text = messages[key] || key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

async function loadMessages() {
  const lang = document.documentElement.lang || 'en';
  try {
    const res = await fetch(`/i18n/${encodeURIComponent(lang)}.json`);
    if (res.ok) messages = await res.json();
  } catch (_) {
    messages = {};
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Adds an entry to the log: a widget event, or (`callback` true) an SDK callback. */
function log(type, data, callback = false) {
  const item = el('li', callback ? 'event event-callback' : 'event');
  const head = el('div', 'event-head');
  head.append(el('code', 'event-type', type), ' ',
    el('span', 'muted small', callback ? t('demo.viaCallback') : t('demo.viaEvent')), ' ',
    el('time', 'muted small', new Date().toLocaleTimeString()));
  item.append(head);
  if (data !== undefined) item.append(el('pre', 'event-metadata', JSON.stringify(data, null, 2)));
  events.prepend(item);
  empty.hidden = true;
}

document.getElementById('clear-events').addEventListener('click', () => {
  events.replaceChildren();
  empty.hidden = false;
});

function selectedMode() {
  const checked = form.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : 'iframe';
}

function syncModeFields() {
  const mode = selectedMode();
  accessField.hidden = mode !== 'redirection';
  // Say what Start will do, unless something is on show.
  if (!current && result.hidden) placeholder.textContent = t(`demo.placeholder.${mode}`);
}
form.addEventListener('change', syncModeFields);

/** Back to the empty state: no widget, no result. */
function reset() {
  if (current) current.destroy();
  current = null;
  widgetBox.replaceChildren();
  popupNote.hidden = true;
  result.hidden = true;
  placeholder.hidden = false;
  placeholder.textContent = t(`demo.placeholder.${selectedMode()}`);
}

async function postJson(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch (_) {
    data = null;
  }
  if (!res.ok) throw new Error((data && data.message) || text || `HTTP ${res.status}`);
  return data;
}

function commonParams() {
  const body = { jobTypes: [form.jobType.value], userId: form.userId.value.trim() };
  if (form.language.value) body.language = form.language.value;
  return body;
}

/** What your server does for iframe and popup mode: POST /widgetUrl. */
async function createWidgetUrl() {
  status.textContent = t('demo.starting');
  const data = await postJson('/widgetUrl', { ...commonParams(), targetOrigin: window.location.origin });
  if (!data || !data.widgetUrl) throw new Error('no widgetUrl in the answer');
  status.textContent = '';
  return data.widgetUrl;
}

function embedWithSdk(mode) {
  events.replaceChildren();
  empty.hidden = false;
  placeholder.hidden = true;
  const handle = window.ConnectHub.embed({
    mode,
    // A function: in popup mode the SDK opens the window at once (inside this click, so it
    // is not blocked) and loads the widget when the URL arrives.
    widgetUrl: createWidgetUrl,
    container: widgetBox,
    title: t('demo.frameTitle'),
    blockedText: t('demo.popupBlocked'),
    linkText: t('demo.popupLink'),
    onEvent(type, metadata) {
      if (type !== 'connect/resize') log(type, metadata);
    },
    onSuccess(metadata) {
      log('onSuccess', metadata, true);
      status.textContent = t('demo.connected');
    },
    onError(error) {
      log('onError', error, true);
      if (error.code === 'WIDGET_URL_ERROR') {
        status.textContent = t('demo.error', { message: error.message });
        reset();
      }
    },
    onExit() {
      log('onExit', undefined, true);
      reset();
      placeholder.textContent = t('demo.closed');
    },
  });
  current = handle;
  if (handle.iframe) handle.iframe.id = 'widget-frame';
  // Blocked popups: the SDK's link in widgetBox says so instead.
  if (mode === 'popup' && handle.popup) popupNote.hidden = false;
}

document.getElementById('popup-close').addEventListener('click', () => {
  reset();
});

/** What your server does for redirection mode: POST /api/redirection; then follow the link. */
async function startRedirection() {
  status.textContent = t('demo.redirectionCreating');
  const returnTo = new URL('/demo', window.location.href);
  returnTo.searchParams.set('demo', RETURN_MARKER);
  try {
    const data = await postJson('/api/redirection', {
      ...commonParams(),
      redirectUri: returnTo.toString(),
      accessMode: form.accessMode.value,
    });
    status.textContent = t('demo.redirecting');
    window.location.assign(data.redirectionLink);
  } catch (err) {
    status.textContent = t('demo.redirectionError', { message: err.message });
    start.disabled = false;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const mode = selectedMode();
  reset();
  status.textContent = '';
  if (mode === 'redirection') {
    start.disabled = true;
    startRedirection();
    return;
  }
  // Synchronously inside the click: popup mode needs the user's gesture.
  embedWithSdk(mode);
});

// ---------------------------------------------------------------- the return leg

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads GET /api/redirection/{id} (waiting out a 429) and shows the answer. */
async function showRedirectionResult(id) {
  placeholder.hidden = true;
  result.hidden = false;
  const path = `/api/redirection/${encodeURIComponent(id)}`;
  document.getElementById('result-url').textContent = window.location.href;
  document.getElementById('result-call').textContent = `GET ${path}`;
  const badge = document.getElementById('result-status');
  const json = document.getElementById('result-json');
  const refresh = document.getElementById('result-refresh');
  badge.textContent = t('demo.result.loading');
  badge.className = 'demo-badge';
  for (let attempt = 0; attempt < 5; attempt += 1) {
    let res;
    try {
      res = await fetch(path, { headers: { Accept: 'application/json' } });
    } catch (err) {
      badge.textContent = t('demo.result.failed', { message: err.message });
      return;
    }
    if (res.status === 429) {
      // Polled too soon (web.redirection.min_poll_interval): wait as told.
      const wait = Number(res.headers.get('Retry-After')) || 2;
      badge.textContent = t('demo.result.wait', { seconds: wait });
      await sleep(wait * 1000);
      continue;
    }
    const data = await res.json().catch(() => null);
    json.textContent = JSON.stringify(data, null, 2);
    if (!res.ok || !data) {
      badge.textContent = t('demo.result.failed', { message: (data && data.message) || `HTTP ${res.status}` });
      badge.className = 'demo-badge demo-badge-error';
      return;
    }
    const s = String(data.status);
    const known = ['success', 'error', 'expired', 'in_progress', 'not_started'].includes(s);
    badge.textContent = known ? t(`demo.result.status.${s}`) : s;
    badge.dataset.status = s;
    badge.className = `demo-badge demo-badge-${s === 'success' ? 'success' : (s === 'error' || s === 'expired' ? 'error' : 'pending')}`;
    refresh.hidden = s === 'success' || s === 'error' || s === 'expired';
    return;
  }
}

document.getElementById('result-refresh').addEventListener('click', () => {
  const id = new URLSearchParams(window.location.search).get('redirectionId');
  if (id) showRedirectionResult(id);
});

async function init() {
  await loadMessages();
  const query = new URLSearchParams(window.location.search);
  if (query.get('demo') === RETURN_MARKER) {
    const radio = document.getElementById('mode-redirection');
    if (radio) radio.checked = true;
    const id = query.get('redirectionId');
    if (id) showRedirectionResult(id);
  }
  syncModeFields();
}

init();
