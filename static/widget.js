// Connect Hub widget: one small ES module, no framework and no build step.
//
// Rules this file keeps:
// - Every piece of dynamic text goes in through textContent / createElement (never innerHTML),
//   so nothing from the hub, the bank or the host can become markup.
// - No inline styles (the page's CSP forbids them); looks live in widget.css and the
//   generated /theme.css.
// - postMessage events go to window.parent and window.opener with the exact targetOrigin
//   from /session, never "*"; with no targetOrigin nothing is sent.
// The step names and event payloads follow the Universal Connect Widget; see
// docs/widget-events.md.
//
// Two modes (GET /session's `mode`):
// - "embedded": in an iframe or a popup of the host's page, talking to it by postMessage.
// - "redirection": a full page opened from a redirection link. No popups at all: the bank's
//   OAuth page opens in this same window, and at the end (or on Close) the browser goes back
//   to the host's redirectUri through the hub's returnUrl.

const CONNECTED = 6;
const DENIED = 2;
const LOCKED = 5;
const FAILED = 14;
const PAGE_SIZE = 25;
const SEARCH_DEBOUNCE_MS = 300;
const SLOW_AFTER_MS = 8000;
const OAUTH_POLL_MS = 1000;
// Redirection mode: the outcome screen goes back by itself after this many seconds (longer
// after a failure: there is more to read).
const RETURN_AFTER_S = { success: 5, error: 10 };

// The embed SDK (static/connect.js) opens the widget URL with `#sdk=1`: the widget then
// offers its own Close button and, in an iframe, reports its height (connect/resize).
const VIA_SDK = new URLSearchParams(window.location.hash.slice(1)).get('sdk') === '1';

const app = document.getElementById('app');
const view = document.getElementById('view');
const backButton = document.getElementById('back');
const closeButton = document.getElementById('close-widget');
const live = document.getElementById('live');

let messages = {};
let session = null;
let step = null;
let institution = null; // the selected institution (GET /institutions/{id})
let member = null; // the current member JSON
let run = 0; // bumped whenever a flow is abandoned, so stale loops stop
let lastStatusPayload = null; // last connect/memberStatusUpdate metadata sent (JSON)
let connectedSent = new Set(); // connection ids whose memberConnected was sent
let backAction = null;
let searchTimer = null; // the pending debounced search, cancelled when leaving search
let returnTimer = null; // redirection mode: the automatic return after the outcome
let leaving = false; // redirection mode: on the way back to the host

// ---------------------------------------------------------------- helpers

function t(key, vars = {}) {
  const template = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  return template.replace(/\{(\w+)\}/g, (m, name) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : m);
}

/** Creates an element; `attrs` are properties or attributes, `children` strings or nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  let data = null;
  try {
    data = await res.json();
  } catch (_) {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function announce(text) {
  // Clear first so the same text is announced again.
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

// ---------------------------------------------------------------- postMessage

function emit(type, metadata = {}) {
  const origin = session && session.targetOrigin;
  if (!origin) return;
  const payload = { type, metadata };
  const targets = [];
  if (window.parent && window.parent !== window) targets.push(window.parent);
  if (window.opener && window.opener !== window && !targets.includes(window.opener)) {
    targets.push(window.opener);
  }
  for (const target of targets) {
    try {
      target.postMessage(payload, origin);
    } catch (_) {
      // A closed or cross-origin-navigated target: nothing to do.
    }
  }
}

function institutionRef() {
  return { guid: institution ? institution.guid : null, code: institution ? institution.code : null };
}

/** Sends memberStatusUpdate when the server's payload changed since the last one sent. */
function reportStatus(m) {
  const data = m && m.postMessageEventData;
  if (!data || !data.memberStatusUpdate) return;
  const json = JSON.stringify(data.memberStatusUpdate);
  if (json === lastStatusPayload) return;
  lastStatusPayload = json;
  emit('connect/memberStatusUpdate', data.memberStatusUpdate);
}

function reportConnected(m) {
  if (connectedSent.has(m.guid)) return;
  connectedSent.add(m.guid);
  emit('connect/memberConnected', m.postMessageEventData.memberConnected);
}

// ---------------------------------------------------------------- steps

/**
 * Shows a step: replaces the view, emits connect/stepChange when the step name changes,
 * moves focus to the new heading and announces it.
 */
function show(name, title, ...content) {
  if (step !== name) {
    if (step !== null) emit('connect/stepChange', { previous: step, current: name });
    step = name;
  }
  app.dataset.step = name;
  const heading = h('h1', { class: 'step-title', tabindex: '-1', id: 'step-title', text: title });
  view.replaceChildren(heading, ...content);
  heading.focus({ preventScroll: false });
  announce(title);
  return heading;
}

function setBack(action) {
  backAction = action;
  backButton.hidden = !action;
}

backButton.addEventListener('click', () => {
  if (backAction) backAction();
});

// ---------------------------------------------------------------- modes and leaving

function isRedirection() {
  return Boolean(session && session.mode === 'redirection');
}

function inIframe() {
  return window.parent && window.parent !== window;
}

function inPopup() {
  return Boolean(window.opener) && !inIframe();
}

/** The top bar's Close: shown in redirection mode, in popups, and when the SDK embeds us. */
function setClosable(on) {
  closeButton.hidden = !(on && (isRedirection() || inPopup() || VIA_SDK));
}

closeButton.addEventListener('click', () => exitWidget());

/** The user leaves: tell the host (connect/exit), then cancel (redirection) or close (popup). */
function exitWidget() {
  emit('connect/exit', { step });
  if (isRedirection()) {
    cancelRedirection();
    return;
  }
  if (inPopup()) window.close();
}

/** Redirection mode: records the cancellation, then goes back to the host. */
async function cancelRedirection() {
  if (leaving) return;
  leaving = true;
  run += 1;
  closeButton.disabled = true;
  let url = session.returnUrl;
  try {
    const res = await api('POST', '/redirection/cancel');
    if (res && res.returnUrl) url = res.returnUrl;
  } catch (_) {
    // Already final, or the session expired: the return URL still takes the user back.
  }
  goBack(url);
}

function goBack(url) {
  clearTimeout(returnTimer);
  leaving = true;
  app.dataset.leaving = 'true';
  announce(t('return.going'));
  window.location.assign(url || session.returnUrl);
}

/**
 * Redirection mode's last screen (success or a final error): a primary "Continue" that goes
 * back to the host, and an automatic return after a few seconds, announced once.
 * "Stay on this page" stops the countdown (WCAG 2.2.1: time limits can be turned off).
 */
function returnControls(outcome) {
  setClosable(false);
  const after = RETURN_AFTER_S[outcome];
  let left = after;
  const note = h('p', { class: 'muted return-note', id: 'return-note', text: t('return.auto', { seconds: left }) });
  const stay = button(t('return.stay'), () => {
    clearTimeout(returnTimer);
    returnTimer = null;
    note.textContent = t('return.stopped');
    stay.hidden = true;
    announce(t('return.stopped'));
    go.focus();
  }, 'link', { id: 'return-stay' });
  // Name where the button goes (the host of redirectUri) when the hub knows it.
  const label = session.returnHost ? t('return.to', { host: session.returnHost }) : t('return.continue');
  const go = button(label, () => goBack(session.returnUrl), 'primary wide', { id: 'return' });
  clearTimeout(returnTimer);
  const tick = () => {
    left -= 1;
    if (left <= 0) {
      goBack(session.returnUrl);
      return;
    }
    note.textContent = t('return.auto', { seconds: left });
    returnTimer = setTimeout(tick, 1000);
  };
  returnTimer = setTimeout(tick, 1000);
  // Said once after the heading (the per-second countdown is visible only, not announced).
  setTimeout(() => {
    if (returnTimer) announce(t('return.auto', { seconds: after }));
  }, 600);
  return h('div', { class: 'actions' }, go, h('div', { class: 'return-row' }, note, stay));
}

// ---------------------------------------------------------------- height (SDK iframes)

/** Reports the content height to the SDK so it can size the iframe (no inner scrollbar). */
function watchHeight() {
  if (!VIA_SDK || !inIframe() || typeof ResizeObserver === 'undefined') return;
  let last = 0;
  let queued = false;
  const send = () => {
    queued = false;
    const height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height > 0 && height !== last) {
      last = height;
      emit('connect/resize', { height });
    }
  };
  new ResizeObserver(() => {
    if (!queued) {
      queued = true;
      requestAnimationFrame(send);
    }
  }).observe(document.body);
}

function canSearch() {
  return !session.institutionId;
}

function institutionName() {
  return (institution && institution.name) || '';
}

function button(label, onclick, kind = 'secondary', extra = {}) {
  return h('button', { type: 'button', class: `button ${kind}`, onclick, ...extra }, label);
}

function errorBox(text, id) {
  return h('p', { class: 'alert', role: 'alert', id, text });
}

// ---------------------------------------------------------------- search

function renderSearch() {
  run += 1;
  setBack(null);
  institution = null;
  member = null;
  const input = h('input', {
    type: 'search',
    id: 'search-input',
    name: 'search',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: t('search.placeholder'),
    'aria-describedby': 'search-status',
  });
  const label = h('label', { for: 'search-input', class: 'field-label', text: t('search.label') });
  const listTitle = h('h2', { class: 'list-title', id: 'list-title' });
  const list = h('ul', { class: 'institutions', id: 'institutions', 'aria-labelledby': 'list-title' });
  const status = h('p', { class: 'muted', id: 'search-status', 'aria-live': 'polite' });
  const more = button(t('search.loadMore'), () => loadPage(current.page + 1), 'secondary wide', {
    id: 'load-more',
    hidden: true,
  });
  show('search', t('search.title'), h('div', { class: 'field' }, label, input), listTitle, status, list, more);

  let current = { query: '', page: 1, seq: 0 };
  const searchRun = run;

  function item(inst) {
    let host = '';
    try {
      host = inst.url ? new URL(inst.url).hostname : '';
    } catch (_) {
      host = '';
    }
    const initial = (inst.name || '?').trim().charAt(0).toUpperCase();
    return h('li', {},
      h('button', {
        type: 'button',
        class: 'institution',
        'data-guid': inst.guid,
        onclick: () => selectInstitution(inst),
      },
      h('span', { class: 'avatar', 'aria-hidden': 'true', text: initial }),
      h('span', { class: 'institution-text' },
        h('span', { class: 'institution-name', text: inst.name }),
        host ? h('span', { class: 'institution-url', text: host }) : null)));
  }

  async function showRecommended() {
    const seq = ++current.seq;
    current = { query: '', page: 1, seq };
    listTitle.textContent = t('search.popular');
    more.hidden = true;
    try {
      const items = await api('GET', '/institutions/recommended');
      if (seq !== current.seq) return;
      list.replaceChildren(...items.map(item));
      status.textContent = items.length ? '' : t('search.noRecommended');
      listTitle.hidden = items.length === 0;
    } catch (_) {
      if (seq !== current.seq) return;
      list.replaceChildren();
      listTitle.hidden = true;
      status.textContent = t('search.noRecommended');
    }
  }

  async function loadPage(page) {
    const query = current.query;
    const seq = page === 1 ? ++current.seq : current.seq;
    current.page = page;
    status.textContent = t('search.searching');
    more.hidden = true;
    const params = new URLSearchParams({ search: query, page: String(page), pageSize: String(PAGE_SIZE) });
    try {
      const items = await api('GET', `/institutions?${params}`);
      if (seq !== current.seq || searchRun !== run) return;
      listTitle.hidden = false;
      listTitle.textContent = t('search.results');
      if (page === 1) list.replaceChildren(...items.map(item));
      else list.append(...items.map(item));
      more.hidden = items.length < PAGE_SIZE;
      if (page === 1 && items.length === 0) {
        listTitle.hidden = true;
        status.replaceChildren(
          h('strong', { text: t('search.noResults', { query }) }),
          h('br'),
          t('search.noResultsHint'));
      } else {
        status.textContent = '';
        announce(t('search.resultsReady'));
      }
      if (page > 1 && items.length > 0) {
        const first = list.children[list.children.length - items.length];
        const target = first && first.querySelector('button');
        if (target) target.focus();
      }
    } catch (err) {
      if (seq !== current.seq) return;
      list.replaceChildren();
      listTitle.hidden = true;
      status.replaceChildren(
        h('span', { class: 'alert', role: 'alert', text: t('search.error') }),
        ' ',
        button(t('action.tryAgain'), () => loadPage(page), 'link'));
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      if (searchRun !== run) return;
      const query = input.value.trim();
      if (query === current.query) return;
      if (query === '') {
        showRecommended();
        return;
      }
      current.query = query;
      emit('connect/institutionSearch', { query });
      loadPage(1);
    }, SEARCH_DEBOUNCE_MS);
  });

  showRecommended();
}

async function selectInstitution(summary) {
  clearTimeout(searchTimer);
  const myRun = ++run;
  try {
    const inst = await api('GET', `/institutions/${encodeURIComponent(summary.guid)}`);
    if (myRun !== run) return;
    institution = inst;
    emit('connect/selectedInstitution', {
      name: inst.name,
      guid: inst.ucpInstitutionId || summary.guid,
      url: inst.url,
      code: inst.code,
    });
    renderLogin();
  } catch (err) {
    if (myRun !== run) return;
    renderProblem(err);
  }
}

function backToSearch() {
  emit('navigation', { did_go_back: true });
  emit('connect/backToSearch', {});
  renderSearch();
}

// ---------------------------------------------------------------- login

async function renderLogin() {
  const myRun = ++run;
  member = null;
  setBack(canSearch() ? backToSearch : null);
  if (institution.login_kind === 'oauth') {
    renderOauthStart();
    return;
  }
  let fields;
  try {
    fields = session.isRefresh && session.connectionId
      ? await api('GET', `/members/${encodeURIComponent(session.connectionId)}/credentials`)
      : await api('GET', `/institutions/${encodeURIComponent(institution.guid)}/credentials`);
  } catch (err) {
    if (myRun !== run) return;
    renderProblem(err, t('login.loadError'));
    return;
  }
  if (myRun !== run) return;

  const formError = h('div', { id: 'form-error' });
  const inputs = [];
  const form = h('form', { class: 'form', novalidate: true, id: 'login-form' });
  for (const field of fields) {
    const id = `cred-${field.guid}`;
    const isPassword = Number(field.field_type) === 1;
    const input = h('input', {
      id,
      name: field.guid,
      type: isPassword ? 'password' : 'text',
      autocomplete: isPassword ? 'current-password' : 'username',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
      'aria-describedby': `${id}-error`,
    });
    inputs.push({ field, input });
    const row = h('div', { class: isPassword ? 'input-row' : '' }, input);
    if (isPassword) {
      const toggle = h('button', {
        type: 'button',
        class: 'button link reveal',
        'aria-pressed': 'false',
        'aria-label': t('login.showPasswordLabel', { label: field.label }),
        text: t('login.showPassword'),
      });
      toggle.addEventListener('click', () => {
        const reveal = input.type === 'password';
        input.type = reveal ? 'text' : 'password';
        toggle.setAttribute('aria-pressed', String(reveal));
        toggle.textContent = reveal ? t('login.hidePassword') : t('login.showPassword');
      });
      row.append(toggle);
    }
    form.append(h('div', { class: 'field' },
      h('label', { for: id, class: 'field-label', text: field.label }),
      row,
      h('p', { class: 'field-error', id: `${id}-error` })));
  }
  const submit = h('button', { type: 'submit', class: 'button primary wide', id: 'login-submit', text: t('login.submit') });
  form.append(submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.replaceChildren();
    let firstInvalid = null;
    for (const { field, input } of inputs) {
      const err = document.getElementById(`${input.id}-error`);
      const missing = input.value === '';
      err.textContent = missing ? t('login.required', { label: field.label }) : '';
      input.setAttribute('aria-invalid', String(missing));
      if (missing && !firstInvalid) firstInvalid = input;
    }
    if (firstInvalid) {
      firstInvalid.focus();
      return;
    }
    submit.disabled = true;
    const credentials = inputs.map(({ field, input }) => ({ guid: field.guid, value: input.value }));
    if (session.isRefresh) {
      emit('connect/updateCredentials', { institution: institutionRef(), member_guid: session.connectionId });
    } else {
      emit('connect/enterCredentials', { institution: institutionRef() });
    }
    try {
      const res = await api('POST', '/members', { institution_guid: institution.guid, credentials });
      if (myRun !== run) return;
      member = res.member;
      startConnecting('connecting.start');
    } catch (err) {
      if (myRun !== run) return;
      submit.disabled = false;
      emit('connect/createMemberError', { institution_guid: institution.guid, institution_code: institution.code });
      const target = inputs.find(({ field }) => field.guid === err.field);
      if (target) {
        document.getElementById(`${target.input.id}-error`).textContent = err.message;
        target.input.setAttribute('aria-invalid', 'true');
        target.input.focus();
      } else {
        formError.replaceChildren(errorBox(err.status ? err.message : t('error.request')));
      }
    }
  });

  const intro = [];
  if (institution.aggregatorDisplayName) {
    intro.push(h('p', { class: 'muted', text: t('login.via', { aggregator: institution.aggregatorDisplayName }) }));
  }
  if (session.isRefresh) intro.push(h('p', { text: t('login.refreshIntro', { name: institutionName() }) }));
  if (institution.testCredentials) {
    // A test aggregator's demo login (the server says which, never this script).
    intro.push(h('p', { class: 'hint', id: 'test-credentials-hint', text: t('login.testCredentialsHint', institution.testCredentials) }));
  }
  show('enterCreds', t('login.title', { name: institutionName() }), ...intro, formError, form);
}

// ---------------------------------------------------------------- OAuth

async function renderOauthStart(errorText) {
  const myRun = ++run;
  setBack(canSearch() ? backToSearch : null);
  const go = h('button', {
    type: 'button', class: 'button primary wide', id: 'oauth-go', disabled: true, text: t('oauth.preparing'),
  });
  const problem = h('div', {});
  if (errorText) problem.append(errorBox(errorText));
  const body = isRedirection() ? 'oauth.bodySameWindow' : 'oauth.body';
  show('enterCreds', t('oauth.title', { name: institutionName() }),
    h('p', { text: t(body, { name: institutionName() }) }), problem, go);
  try {
    if (session.isRefresh) {
      emit('connect/updateCredentials', { institution: institutionRef(), member_guid: session.connectionId });
    }
    const res = await api('POST', '/members', { institution_guid: institution.guid, is_oauth: true });
    if (myRun !== run) return;
    member = res.member;
  } catch (err) {
    if (myRun !== run) return;
    emit('connect/createMemberError', { institution_guid: institution.guid, institution_code: institution.code });
    problem.replaceChildren(errorBox(err.status ? err.message : t('error.request')));
    go.textContent = t('action.tryAgain');
    go.disabled = false;
    go.addEventListener('click', () => renderOauthStart(), { once: true });
    return;
  }
  oauthReady(go);
}

/** Arms "Go to log in" for the current member's bank page. */
function oauthReady(go) {
  go.textContent = t('oauth.button');
  go.disabled = false;
  go.addEventListener('click', () => {
    const url = member.oauth_window_uri;
    emit('connect/oauthRequested', { url, member_guid: member.guid });
    if (isRedirection()) {
      // Same window: the bank sends the user back to the hub, which goes on to the host (or
      // to /widget/resume while the connection is still being worked on).
      go.disabled = true;
      leaving = true;
      window.location.assign(url);
      return;
    }
    // Opened synchronously inside the click so popup blockers allow it.
    const popup = window.open(url, 'connect-hub-oauth', 'popup,width=520,height=720');
    waitForOauth(popup);
  });
}

/** Redirection mode, back on /widget/resume before the bank login finished: offer it again. */
function renderOauthAgain() {
  run += 1;
  setBack(null);
  const go = h('button', { type: 'button', class: 'button primary wide', id: 'oauth-go' });
  show('enterCreds', t('oauth.title', { name: institutionName() }),
    h('p', { text: t('oauth.bodySameWindow', { name: institutionName() }) }), go);
  oauthReady(go);
}

function waitForOauth(popup) {
  const myRun = ++run;
  setBack(null); // Cancel is the way out while the bank's window is open
  const name = institutionName();
  const link = h('a', {
    href: member.oauth_window_uri, target: '_blank', rel: 'opener', id: 'oauth-link', class: 'small',
    text: t('oauth.fallback', { name }),
  });
  const cancel = button(t('oauth.cancel'), () => {
    run += 1;
    if (popup && !popup.closed) popup.close();
    renderOauthStart();
  }, 'secondary wide', { id: 'oauth-cancel' });
  // Stay on the enterCreds step (as connect-widget does) while the bank's window is open.
  show('enterCreds', t('oauth.waitingTitle', { name }),
    h('div', { class: 'spinner', 'aria-hidden': 'true' }),
    h('p', { text: t('oauth.waitingBody') }),
    h('p', {}, link),
    cancel);
  const guid = member.guid;
  (async () => {
    while (myRun === run) {
      await sleep(OAUTH_POLL_MS);
      if (myRun !== run) return;
      let state;
      try {
        state = await api('GET', `/oauthStates/${encodeURIComponent(guid)}`);
      } catch (err) {
        if (err.status === 401) return renderProblem(err);
        continue;
      }
      if (myRun !== run) return;
      if (state.auth_status === 2) {
        startConnecting('connecting.syncing');
        return;
      }
      if (state.auth_status === 3) {
        renderOauthError(state.error_reason_name || 'SERVER_ERROR');
        return;
      }
    }
  })();
}

function renderOauthError(reason) {
  run += 1;
  emit('connect/oauthError', { member_guid: member.guid, error_reason: reason });
  const name = institutionName();
  const key = reason === 'DENIED' || reason === 'CANCELLED' ? `oauth.reason.${reason}` : 'oauth.reason.OTHER';
  setBack(null);
  if (isRedirection()) {
    // The redirection already has its final outcome: no retry here, only the way back.
    show('oauthError', t('oauth.errorTitle', { name }),
      h('div', { class: 'error-mark', 'aria-hidden': 'true' }),
      h('p', { text: t(key, { name }) }),
      returnControls('error'));
    return;
  }
  show('oauthError', t('oauth.errorTitle', { name }),
    h('p', { text: t(key, { name }) }),
    h('div', { class: 'actions' },
      button(t('action.tryAgain'), () => renderOauthStart(), 'primary wide', { id: 'retry' }),
      canSearch() ? button(t('action.otherBank'), backToSearch, 'secondary wide', { id: 'other-bank' }) : null));
}

// ---------------------------------------------------------------- connecting

/** Polls the member (with backoff) until it needs the user, connects, or fails. */
function startConnecting(statusKey, timeoutSeconds) {
  const myRun = ++run;
  setBack(null);
  const name = institutionName();
  const statusText = h('p', { class: 'status-text', id: 'connecting-status', text: t(statusKey) });
  show('connecting', t('connecting.title', { name }),
    h('div', { class: 'spinner', 'aria-hidden': 'true' }),
    statusText);
  const started = Date.now();
  const timeoutMs = (timeoutSeconds || Math.max(1, Number(session.connectingTimeoutSeconds) || 60)) * 1000;
  let delay = 400;
  let slowShown = false;
  const setStatus = (key) => {
    if (statusText.textContent !== t(key)) {
      statusText.textContent = t(key);
      announce(t(key));
    }
  };
  (async () => {
    while (myRun === run) {
      await sleep(delay);
      delay = Math.min(Math.round(delay * 1.5), 3000);
      if (myRun !== run) return;
      let m;
      try {
        m = await api('GET', `/members/${encodeURIComponent(member.guid)}`);
      } catch (err) {
        if (myRun !== run) return;
        if (err.status === 401 || err.status === 404) return renderProblem(err);
        m = null; // a network hiccup: keep trying until the time-out
      }
      if (myRun !== run) return;
      if (m) {
        member = m;
        reportStatus(m);
        // The server decides the next screen (member.nextStep).
        if (m.nextStep === 'connected') return renderConnected();
        if (m.nextStep === 'mfa' || m.nextStep === 'accountSelection') return renderMfa();
        if (m.nextStep === 'error') return renderMemberError();
        if (m.connection_status === CONNECTED) setStatus('connecting.syncing');
      }
      const elapsed = Date.now() - started;
      if (!slowShown && elapsed > SLOW_AFTER_MS) {
        slowShown = true;
        setStatus('connecting.slow');
      }
      if (elapsed > timeoutMs && !(m && m.connection_status === 21)) return renderTimeout(timeoutMs / 1000);
    }
  })();
}

/** The time-out screen; "Keep waiting" polls again for twice as long. */
function renderTimeout(waitedSeconds) {
  run += 1;
  const name = institutionName();
  show('timeOut', t('timeout.title'),
    h('p', { text: t('timeout.body', { name }) }),
    h('div', { class: 'actions' },
      button(t('timeout.wait'), () => startConnecting('connecting.slow', waitedSeconds * 2), 'primary wide', { id: 'keep-waiting' }),
      button(t('timeout.restart'), startOver, 'secondary wide', { id: 'start-over' })));
}

function startOver() {
  if (canSearch()) backToSearch();
  else renderLogin();
}

// ---------------------------------------------------------------- MFA

function renderMfa() {
  const myRun = ++run;
  setBack(null);
  const name = institutionName();
  const creds = member.mfa.credentials;
  const accountSelect = member.accountSelection === true;
  const form = h('form', { class: 'form', novalidate: true, id: 'mfa-form' });
  const getters = [];
  creds.forEach((c, index) => {
    const id = `mfa-${index}`;
    const type = c.challenge_type;
    if (type === 'OPTIONS' || type === 'IMAGE_OPTIONS') {
      const fieldset = h('fieldset', { class: `choices${type === 'IMAGE_OPTIONS' ? ' image-choices' : ''}` },
        h('legend', { class: 'field-label', text: c.label }));
      (c.options || []).forEach((o, j) => {
        const optionId = `${id}-${j}`;
        const radio = h('input', { type: 'radio', name: id, id: optionId, value: o.value, required: true });
        const body = type === 'IMAGE_OPTIONS' && o.data_uri
          ? h('img', { src: o.data_uri, alt: o.label, class: 'choice-image' })
          : h('span', { text: o.label });
        fieldset.append(h('label', { class: 'choice', for: optionId }, radio, body));
      });
      form.append(fieldset);
      getters.push({ guid: c.guid, focus: () => fieldset.querySelector('input'), value: () => {
        const checked = fieldset.querySelector('input:checked');
        return checked ? checked.value : '';
      } });
    } else {
      const field = h('div', { class: 'field' }, h('label', { for: id, class: 'field-label', text: c.label }));
      if (type === 'IMAGE' && c.meta_data) {
        field.append(h('img', { src: c.meta_data, alt: t('mfa.imageAlt', { name }), class: 'captcha' }));
      }
      const input = h('input', {
        id, name: id, type: 'text', autocomplete: type === 'TOKEN' ? 'one-time-code' : 'off',
        inputmode: type === 'TOKEN' ? 'numeric' : null, autocapitalize: 'none', spellcheck: 'false', required: true,
      });
      field.append(input);
      form.append(field);
      getters.push({ guid: c.guid, focus: () => input, value: () => input.value.trim() });
    }
  });
  const formError = h('div', { id: 'mfa-error' });
  const submit = h('button', { type: 'submit', class: 'button primary wide', id: 'mfa-submit', text: t('mfa.submit') });
  form.append(submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const missing = getters.find((g) => g.value() === '');
    if (missing) {
      formError.replaceChildren(errorBox(t('mfa.required')));
      const el = missing.focus();
      if (el) el.focus();
      return;
    }
    submit.disabled = true;
    emit('connect/submitMFA', { member_guid: member.guid });
    try {
      const answers = getters.map((g) => ({ guid: g.guid, value: g.value() }));
      member = await api('PUT', `/members/${encodeURIComponent(member.guid)}`, { mfa: { credentials: answers } });
      if (myRun !== run) return;
      startConnecting('connecting.answer');
    } catch (err) {
      if (myRun !== run) return;
      submit.disabled = false;
      formError.replaceChildren(errorBox(err.status ? err.message : t('error.request')));
    }
  });
  const intro = [];
  if (member.error_message) {
    // Asked again after a wrong answer: say so first.
    intro.push(errorBox(member.error_message, 'mfa-message'));
  }
  intro.push(h('p', { class: 'muted', text: accountSelect ? t('account.intro') : t('mfa.intro', { name }) }));
  show('mfa', accountSelect ? t('account.title') : t('mfa.title'), ...intro, formError, form);
}

// ---------------------------------------------------------------- outcomes

function renderConnected() {
  run += 1;
  setBack(null);
  reportConnected(member);
  const name = institutionName();
  if (isRedirection()) {
    show('connected', t('connected.title'),
      h('div', { class: 'success-mark', 'aria-hidden': 'true' }),
      h('p', { text: t('connected.body', { name }) }),
      returnControls('success'));
    return;
  }
  show('connected', t('connected.title'),
    h('div', { class: 'success-mark', 'aria-hidden': 'true' }),
    h('p', { text: t('connected.body', { name }) }),
    button(t('connected.done'), () => {
      emit('connect/connected/primaryAction', {});
      emit('connect/exit', { step: 'connected' });
      closeIfPopup();
    }, 'primary wide', { id: 'done' }));
}

function closeIfPopup() {
  if (window.opener && (!window.parent || window.parent === window)) window.close();
}

function renderMemberError() {
  run += 1;
  setBack(null);
  const status = member.connection_status;
  emit('connect/memberError', { member: { guid: member.guid, connection_status: status } });
  const name = institutionName();
  let kind = 'generic';
  if (status === DENIED) kind = 'denied';
  else if (status === LOCKED) kind = 'locked';
  else if (status === FAILED) kind = 'failed';
  const details = [];
  details.push(h('p', { text: t(`error.${kind}.body`, { name }) }));
  if (member.error_message) {
    details.push(h('p', { class: 'bank-message' },
      h('span', { class: 'muted', text: t('error.bankSaid', { name }) }), ' ',
      h('span', { id: 'bank-message', text: member.error_message })));
  }
  if (isRedirection()) {
    // The redirection's outcome is final (the host reads it from the status API), so no
    // retry here: the user goes back to the app, which can start a new redirection.
    show('actionableError', t(`error.${kind}.title`, { name }),
      h('div', { class: 'error-mark', 'aria-hidden': 'true' }),
      ...details.slice(1), h('p', { text: t('return.errorBody') }), returnControls('error'));
    return;
  }
  const actions = [];
  if (kind === 'denied' || kind === 'failed' || kind === 'generic') {
    actions.push(button(t('action.tryAgain'), renderLogin, 'primary wide', { id: 'retry' }));
  }
  if (canSearch()) {
    actions.push(button(t('action.otherBank'), backToSearch, actions.length ? 'secondary wide' : 'primary wide', { id: 'other-bank' }));
  }
  actions.push(button(t('action.close'), () => {
    emit('connect/memberError/primaryAction', { member: { guid: member.guid, connection_status: status } });
    emit('connect/exit', { step: 'actionableError' });
    closeIfPopup();
  }, 'secondary wide', { id: 'close' }));
  show('actionableError', t(`error.${kind}.title`, { name }),
    ...details, h('div', { class: 'actions' }, ...actions));
}

function renderProblem(err, text) {
  run += 1;
  setBack(canSearch() && step !== 'search' ? backToSearch : null);
  const expired = err && err.status === 401;
  show('actionableError', expired ? t('app.sessionExpired') : t('error.generic.title'),
    h('p', { text: expired ? '' : (text || (err && err.status ? err.message : t('error.request'))) }),
    expired ? null : h('div', { class: 'actions' },
      button(t('action.tryAgain'), () => boot(), 'primary wide', { id: 'retry' })));
}

// ---------------------------------------------------------------- start

// ---------------------------------------------------------------- redirection mode

/** Mixed access mode: the user decides whether the connection is kept for later updates. */
function renderAccessChoice() {
  const myRun = ++run;
  setBack(null);
  const problem = h('div', { id: 'access-error' });
  const choices = [];
  async function choose(mode) {
    choices.forEach((c) => { c.disabled = true; });
    problem.replaceChildren();
    try {
      await api('PUT', '/session/access-mode', { accessMode: mode });
      if (myRun !== run) return;
      session.accessMode = mode;
      session.needsAccessModeChoice = false;
      startFlow();
    } catch (err) {
      if (myRun !== run) return;
      choices.forEach((c) => { c.disabled = false; });
      problem.replaceChildren(errorBox(err.status === 401 ? t('app.sessionExpired') : t('access.error')));
    }
  }
  const choice = (mode) => {
    const el = h('button', {
      type: 'button', class: 'access-choice', id: `access-${mode}`, onclick: () => choose(mode),
    },
    h('span', { class: 'access-choice-title', text: t(`access.${mode}`) }),
    h('span', { class: 'access-choice-hint', text: t(`access.${mode}Hint`) }));
    choices.push(el);
    return el;
  };
  show('accessMode', t('access.title'),
    h('p', { class: 'muted', text: t('access.body') }),
    problem,
    h('div', { class: 'access-choices', role: 'group', 'aria-labelledby': 'step-title' },
      choice('multiple'), choice('single')));
}

/**
 * Back from the bank's page (GET /widget/resume) or a reload: carry on with the session's
 * current connection instead of starting over.
 */
async function resumeConnection() {
  const myRun = ++run;
  setBack(null);
  show('connecting', t('connecting.title', { name: (session.selectedInstitution || {}).name || '' }),
    h('div', { class: 'spinner', 'aria-hidden': 'true' }));
  const selected = session.selectedInstitution;
  try {
    const [m, inst] = await Promise.all([
      api('GET', `/members/${encodeURIComponent(session.currentConnectionId)}`),
      selected
        ? api('GET', `/institutions/${encodeURIComponent(selected.ucpInstitutionId)}`).catch(() => null)
        : null,
    ]);
    if (myRun !== run) return;
    member = m;
    institution = inst || (selected ? { guid: selected.ucpInstitutionId, name: selected.name } : null);
  } catch (err) {
    if (myRun !== run) return;
    // The connection is gone (or never existed): start the normal way.
    if (err.status === 404) startFlow();
    else renderProblem(err);
    return;
  }
  const step = member.nextStep;
  if (step === 'connected') {
    renderConnected();
  } else if (step === 'mfa' || step === 'accountSelection') {
    renderMfa();
  } else if (step === 'error') {
    if (member.is_oauth) renderOauthError(member.connection_status_name || 'SERVER_ERROR');
    else renderMemberError();
  } else if (member.is_oauth && member.oauth_window_uri && await oauthPending(member.guid)) {
    if (myRun === run) renderOauthAgain();
  } else if (myRun === run) {
    startConnecting('connecting.syncing');
  }
}

/** True while the bank's OAuth login has not come back yet. */
async function oauthPending(guid) {
  try {
    const state = await api('GET', `/oauthStates/${encodeURIComponent(guid)}`);
    return state.auth_status === 1;
  } catch (_) {
    return false;
  }
}

// ---------------------------------------------------------------- start

/** The normal start: an institution given by the host, or the search. */
async function startFlow() {
  const myRun = ++run;
  if (session.institutionId) {
    try {
      institution = await api('GET', `/institutions/${encodeURIComponent(session.institutionId)}`);
    } catch (err) {
      if (myRun !== run) return;
      step = step || session.initialStep || 'enterCreds';
      renderProblem(err);
      return;
    }
    if (myRun !== run) return;
    step = step || session.initialStep || 'enterCreds';
    renderLogin();
  } else {
    step = step || 'search';
    renderSearch();
  }
}

async function boot() {
  run += 1;
  if (!session) {
    const lang = document.documentElement.lang || 'en';
    try {
      const [s, catalogue] = await Promise.all([
        api('GET', '/session'),
        api('GET', `/i18n/${encodeURIComponent(lang)}.json`),
      ]);
      session = s;
      messages = catalogue;
    } catch (err) {
      try {
        messages = await api('GET', '/i18n/en.json');
      } catch (_) {
        messages = {};
      }
      view.replaceChildren(h('p', { class: 'alert', role: 'alert', text: err.status === 401 ? t('app.sessionExpired') : t('app.startError') }));
      return;
    }
    app.dataset.mode = isRedirection() ? 'redirection' : 'embedded';
    backButton.textContent = t('nav.back');
    closeButton.textContent = t('nav.close');
    closeButton.setAttribute('aria-label', isRedirection() ? t('nav.closeRedirection') : t('nav.close'));
    watchHeight();
  }
  setClosable(true);
  const initial = session.initialStep || 'search';
  if (step === null) emit('connect/loaded', { initial_step: initial });
  if (isRedirection() && session.needsAccessModeChoice) {
    renderAccessChoice();
  } else if (isRedirection() && session.currentConnectionId) {
    resumeConnection();
  } else {
    startFlow();
  }
}

// Coming back with the browser's Back button after leaving (bfcache): start cleanly.
window.addEventListener('pageshow', (event) => {
  if (event.persisted && leaving) window.location.reload();
});

boot();
