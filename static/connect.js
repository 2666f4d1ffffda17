/*
 * Connect Hub embed SDK: puts the Connect Hub widget on your page in an iframe or a popup and
 * turns its postMessage events into callbacks. Plain script, no dependencies, no build:
 *
 *   <script src="https://connect.example.com/connect.js"></script>
 *   <script>
 *     const widget = ConnectHub.embed({
 *       widgetUrl,                        // from your server's POST /widgetUrl
 *       container: '#connect',            // element or selector
 *       mode: 'iframe',                   // or 'popup'
 *       onSuccess(metadata) {},           // { ucpInstitutionId, aggregator, connectionId, aggregatorUserId, … }
 *       onError(error) {},                // { code, step, message? }
 *       onEvent(type, metadata) {},       // every widget event
 *       onExit() {},                      // the user closed the widget
 *     });
 *     // later: widget.destroy();
 *   </script>
 *
 * Security: a message is accepted only if it comes from the widget URL's origin AND from this
 * embed's own iframe or popup window, so several widgets on one page never mix. Nothing from a
 * message is ever written as HTML. Documentation: docs/embed-sdk.md. Types: /connect.d.ts.
 */
(function (root) {
  'use strict';

  var VERSION = '1';
  var POPUP_FEATURES = 'popup,width=480,height=760';
  var POPUP_POLL_MS = 500;
  var counter = 0;

  function noop() {}

  function resolveContainer(container) {
    if (!container) return null;
    if (typeof container === 'string') return document.querySelector(container);
    return container;
  }

  /** The widget URL with `#sdk=1`, which tells the widget an SDK is listening. */
  function sdkUrl(url) {
    var u = new URL(url, window.location.href);
    var hash = new URLSearchParams(u.hash.slice(1));
    hash.set('sdk', VERSION);
    u.hash = hash.toString();
    return u.toString();
  }

  function errorFromEvent(type, metadata, step) {
    metadata = metadata || {};
    if (type === 'connect/memberError') {
      var member = metadata.member || {};
      var error = { code: statusName(member.connection_status), step: step };
      if (typeof metadata.message === 'string') error.message = metadata.message;
      return error;
    }
    if (type === 'connect/oauthError') {
      return { code: String(metadata.error_reason || 'OAUTH_ERROR'), step: step };
    }
    if (type === 'connect/createMemberError') {
      return { code: 'CREATE_MEMBER_ERROR', step: step };
    }
    return null;
  }

  // UCW's connection statuses (the numbers in connect/memberError).
  var STATUS_NAMES = [
    'CREATED', 'PREVENTED', 'DENIED', 'CHALLENGED', 'REJECTED', 'LOCKED', 'CONNECTED',
    'IMPEDED', 'RECONNECTED', 'DEGRADED', 'DISCONNECTED', 'DISCONTINUED', 'CLOSED', 'DELAYED',
    'FAILED', 'UPDATED', 'DISABLED', 'IMPORTED', 'RESUMED', 'EXPIRED', 'IMPAIRED', 'PENDING',
  ];

  function statusName(code) {
    var n = Number(code);
    return STATUS_NAMES[n] || 'UNKNOWN';
  }

  function call(fn, args) {
    try {
      fn.apply(null, args);
    } catch (err) {
      // A host callback's error must not stop the SDK; report it where developers look.
      setTimeout(function () { throw err; });
    }
  }

  /**
   * Embeds one widget. Returns `{ destroy(), iframe, popup }`.
   * In popup mode call this inside a click handler, or the browser may block the window; when
   * it is blocked, a link that opens it is shown in `container` instead.
   * `widgetUrl` may be a string, or a function returning a string or a Promise of one (popup
   * mode then opens the window at once and loads the widget when the URL arrives).
   */
  function embed(options) {
    options = options || {};
    var mode = options.mode || 'iframe';
    if (mode !== 'iframe' && mode !== 'popup') {
      throw new Error('ConnectHub.embed: mode must be "iframe" or "popup"');
    }
    var container = resolveContainer(options.container);
    if (mode === 'iframe' && !container) {
      throw new Error('ConnectHub.embed: container not found (an element or a CSS selector)');
    }
    var onSuccess = options.onSuccess || noop;
    var onError = options.onError || noop;
    var onEvent = options.onEvent || noop;
    var onExit = options.onExit || noop;
    var id = ++counter;

    var widgetOrigin = null; // known once the URL is
    var iframe = null;
    var popup = null;
    var fallback = null;
    var pollTimer = null;
    var destroyed = false;
    var succeeded = false;
    var exited = false;
    var step = null;

    function source() {
      if (iframe) return iframe.contentWindow;
      return popup;
    }

    function exit() {
      if (exited || destroyed) return;
      exited = true;
      stopPolling();
      call(onExit, []);
    }

    function onMessage(event) {
      if (destroyed || !widgetOrigin) return;
      // Both checks: the right origin, and this embed's own window (not another widget's,
      // not another frame of the same origin).
      if (event.origin !== widgetOrigin) return;
      var own = source();
      if (!own || event.source !== own) return;
      var data = event.data;
      if (!data || typeof data !== 'object' || typeof data.type !== 'string') return;
      var type = data.type;
      var metadata = data.metadata && typeof data.metadata === 'object' ? data.metadata : {};
      if (type === 'connect/stepChange' && typeof metadata.current === 'string') {
        step = metadata.current;
      }
      if (type === 'connect/resize' && iframe) {
        var h = Number(metadata.height);
        if (h > 0 && h < 100000) iframe.style.height = Math.ceil(h) + 'px';
      }
      call(onEvent, [type, metadata]);
      if (type === 'connect/memberConnected') {
        if (!succeeded) {
          succeeded = true;
          call(onSuccess, [metadata]);
        }
        return;
      }
      var error = errorFromEvent(type, metadata, step);
      if (error) {
        call(onError, [error]);
        return;
      }
      if (type === 'connect/exit') exit();
    }

    function stopPolling() {
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
    }

    function watchPopup() {
      stopPolling();
      pollTimer = setInterval(function () {
        if (popup && popup.closed) exit();
      }, POPUP_POLL_MS);
    }

    function showFallback(url) {
      if (!container || destroyed) return;
      var name = 'connect-hub-' + id;
      var link = document.createElement('a');
      link.href = url;
      link.target = name;
      link.rel = 'opener';
      link.className = 'connect-hub-open';
      link.textContent = options.linkText || 'Open the window to connect your account';
      link.addEventListener('click', function (event) {
        var w = window.open(url, name, POPUP_FEATURES);
        if (w) {
          event.preventDefault();
          popup = w;
          if (fallback && fallback.parentNode) fallback.parentNode.removeChild(fallback);
          fallback = null;
          watchPopup();
        }
        // Still blocked: the link opens the widget itself (a tab); events then cannot be
        // matched to a window we know, so none are delivered.
      });
      fallback = document.createElement('p');
      fallback.className = 'connect-hub-fallback';
      fallback.appendChild(document.createTextNode(
        (options.blockedText || 'Your browser blocked the pop-up window.') + ' '));
      fallback.appendChild(link);
      container.appendChild(fallback);
    }

    function start(url) {
      if (destroyed) return;
      var full = sdkUrl(url);
      widgetOrigin = new URL(full).origin;
      if (mode === 'iframe') {
        iframe.src = full;
      } else if (popup && !popup.closed) {
        popup.location.replace(full);
      } else {
        popup = window.open(full, 'connect-hub-' + id, POPUP_FEATURES);
        if (!popup) {
          showFallback(full);
          return;
        }
        watchPopup();
      }
    }

    window.addEventListener('message', onMessage);

    if (mode === 'iframe') {
      iframe = document.createElement('iframe');
      iframe.title = options.title || 'Connect your account';
      iframe.className = 'connect-hub-frame';
      iframe.style.width = '100%';
      iframe.style.border = '0';
      iframe.style.display = 'block';
      iframe.style.height = (options.initialHeight || 560) + 'px';
      container.appendChild(iframe);
    } else if (typeof options.widgetUrl === 'function') {
      // Open the window now, inside the click, and load the widget when the URL arrives.
      popup = window.open('about:blank', 'connect-hub-' + id, POPUP_FEATURES);
      if (popup) watchPopup();
    }

    var handle = {
      /** Removes the iframe (or closes the popup) and stops listening. No callbacks after this. */
      destroy: function () {
        if (destroyed) return;
        destroyed = true;
        stopPolling();
        window.removeEventListener('message', onMessage);
        if (iframe && iframe.parentNode) iframe.parentNode.removeChild(iframe);
        if (popup && !popup.closed) popup.close();
        if (fallback && fallback.parentNode) fallback.parentNode.removeChild(fallback);
      },
      get iframe() { return iframe; },
      get popup() { return popup; },
    };

    var url = options.widgetUrl;
    if (typeof url === 'function') {
      Promise.resolve()
        .then(url)
        .then(function (u) {
          if (typeof u !== 'string' || !u) throw new Error('widgetUrl() gave no URL');
          start(u);
        })
        .catch(function (err) {
          if (popup && !popup.closed) popup.close();
          stopPolling();
          call(onError, [{ code: 'WIDGET_URL_ERROR', step: null, message: String(err && err.message || err) }]);
        });
    } else if (typeof url === 'string' && url) {
      start(url);
    } else {
      window.removeEventListener('message', onMessage);
      throw new Error('ConnectHub.embed: widgetUrl is required');
    }
    return handle;
  }

  var api = { embed: embed, version: VERSION };
  root.ConnectHub = api;
  if (typeof module === 'object' && module && module.exports) module.exports = api;
})(typeof window !== 'undefined' ? window : this);
