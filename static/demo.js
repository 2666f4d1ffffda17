// The /demo host page: asks the hub for a widget URL (POST /widgetUrl, as a host's server
// would), embeds the widget, and lists every postMessage it sends. Text goes in with
// textContent only.

const form = document.getElementById('demo-form');
const status = document.getElementById('demo-status');
const frame = document.getElementById('widget-frame');
const placeholder = document.getElementById('widget-placeholder');
const events = document.getElementById('events');
const empty = document.getElementById('events-empty');
const start = document.getElementById('start');
let messages = {};

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

let widgetOrigin = window.location.origin;

window.addEventListener('message', (event) => {
  // Only the widget's messages; other frames and extensions post here too.
  if (event.origin !== widgetOrigin || event.source !== frame.contentWindow) return;
  const data = event.data || {};
  const item = el('li', 'event');
  const head = el('div', 'event-head');
  head.append(el('code', 'event-type', String(data.type)), ' ',
    el('span', 'muted small', t('demo.eventFrom', { origin: event.origin })), ' ',
    el('time', 'muted small', new Date().toLocaleTimeString()));
  item.append(head, el('pre', 'event-metadata', JSON.stringify(data.metadata, null, 2)));
  events.prepend(item);
  empty.hidden = true;
});

document.getElementById('clear-events').addEventListener('click', () => {
  events.replaceChildren();
  empty.hidden = false;
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  start.disabled = true;
  status.textContent = t('demo.starting');
  const body = {
    jobTypes: [form.jobType.value],
    userId: form.userId.value.trim(),
    targetOrigin: window.location.origin,
  };
  if (form.language.value) body.language = form.language.value;
  try {
    const res = await fetch('/widgetUrl', {
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
    if (!res.ok || !data || !data.widgetUrl) {
      throw new Error((data && data.message) || text || `HTTP ${res.status}`);
    }
    widgetOrigin = new URL(data.widgetUrl).origin;
    events.replaceChildren();
    empty.hidden = false;
    frame.src = data.widgetUrl;
    frame.hidden = false;
    placeholder.hidden = true;
    status.textContent = '';
  } catch (err) {
    status.textContent = t('demo.error', { message: err.message });
  } finally {
    start.disabled = false;
  }
});

loadMessages();
