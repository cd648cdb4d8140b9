/**
 * The small web page of the approvals API: pending asks grouped into batches, with
 * approve and deny buttons. It is static (no data in it), so it is served without a
 * token; it reads the token from the URL fragment (`#token=…`, never sent to a server or
 * kept in history) and sends it as a bearer header. Every text from an ask is put in the
 * page with `textContent`, never as HTML: an ask is written by the agent.
 */

/** The page itself. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Airlock approvals</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>Airlock approvals</h1>
  <p id="summary">loading…</p>
  <p id="status" role="status" aria-live="polite"></p>
</header>
<main id="batches"></main>
</body>
</html>
`;

/** Its style. */
export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem; color: #111; background: #fafafa; }
h1 { font-size: 1.3rem; margin: 0 0 .3rem; }
#status { min-height: 1.2em; font-weight: 600; }
#status.error { color: #b00020; }
section.batch { border: 1px solid #ccc; border-radius: 6px; background: #fff; margin: 1rem 0; padding: .6rem .8rem; }
section.batch > h2 { font-size: 1rem; margin: 0 0 .4rem; }
.ask { border-top: 1px solid #eee; padding: .5rem 0; }
.ask.destructive pre { border-left: 4px solid #b00020; }
pre { white-space: pre-wrap; word-break: break-all; background: #f4f4f4; padding: .4rem .6rem; margin: .3rem 0; font: 12.5px/1.35 ui-monospace, monospace; }
button { margin: .2rem .3rem .2rem 0; padding: .3rem .7rem; cursor: pointer; }
button.approve { background: #e6f4ea; border: 1px solid #34a853; }
button.deny { background: #fde7e9; border: 1px solid #b00020; }
.tag { display: inline-block; font-size: .8rem; padding: 0 .4rem; border-radius: 3px; background: #eee; margin-left: .4rem; }
.tag.destructive { background: #b00020; color: #fff; }
.rule { border: 1px dashed #888; padding: .4rem .6rem; margin: .4rem 0; }
input.reason { width: 20rem; }
`;

/** Its script. Plain ES2020, no dependencies, no inline handlers (the CSP forbids them). */
export const PAGE_JS = `'use strict';
(function () {
  var KEY = 'airlock-approvals-token';
  var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    // Drop the token from the address bar and history.
    history.replaceState(null, '', location.pathname);
  }
  var token = sessionStorage.getItem(KEY);
  var main = document.getElementById('batches');
  var summary = document.getElementById('summary');
  var statusEl = document.getElementById('status');

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function say(text, error) {
    statusEl.textContent = text;
    statusEl.className = error ? 'error' : '';
  }
  function api(method, path, body) {
    var init = { method: method, headers: { authorization: 'Bearer ' + token }, cache: 'no-store' };
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.json().then(function (data) {
        if (!res.ok) {
          var e = data && data.error ? data.error : { message: 'HTTP ' + res.status };
          throw new Error((e.code ? e.code + ': ' : '') + e.message + (e.hint ? ' (' + e.hint + ')' : ''));
        }
        return data;
      });
    });
  }
  function decide(a, body, done) {
    body.digest = a.digest;
    api('POST', '/api/approvals/' + encodeURIComponent(a.id) + '/decision', body).then(function (r) {
      say(done + ' ' + a.id + (r.approval.resolution && r.approval.resolution.ruleError ? ' (rule not written: ' + r.approval.resolution.ruleError + ')' : ''));
      load();
    }, function (e) { say(e.message, true); load(); });
  }
  function renderAsk(a) {
    var box = el('div', { 'class': 'ask' + (a.destructive ? ' destructive' : ''), 'data-id': a.id });
    box.appendChild(el('pre', { 'data-testid': 'ask-text' }, a.display.join('\\n')));
    var approve = el('button', { 'class': 'approve', 'data-testid': 'approve-once-' + a.id, disabled: '' }, 'Approve once');
    approve.addEventListener('click', function () { decide(a, { decision: 'approve', scope: 'once' }, 'approved'); });
    var session = el('button', { 'class': 'approve', 'data-testid': 'approve-session-' + a.id, disabled: '' }, 'Approve for this session');
    session.addEventListener('click', function () { decide(a, { decision: 'approve', scope: 'session' }, 'approved for the session'); });
    box.appendChild(approve);
    box.appendChild(session);
    if (a.ruleProposal.ok) {
      var rule = el('button', { 'class': 'approve', 'data-testid': 'approve-rule-' + a.id, disabled: '' }, 'Approve as a rule…');
      rule.addEventListener('click', function () {
        rule.disabled = true;
        rule.dataset.used = '1';
        var box2 = el('div', { 'class': 'rule' });
        box2.appendChild(el('div', null, 'This text is added to ' + a.policyFile + ':'));
        box2.appendChild(el('pre', { 'data-testid': 'rule-text-' + a.id }, a.ruleProposal.text));
        a.ruleProposal.notes.forEach(function (n) { box2.appendChild(el('div', null, 'Note: ' + n)); });
        var confirm = el('button', { 'class': 'approve', 'data-testid': 'confirm-rule-' + a.id }, 'Write this rule and approve');
        confirm.addEventListener('click', function () { decide(a, { decision: 'approve', scope: 'rule', ruleText: a.ruleProposal.text }, 'approved with a rule'); });
        box2.appendChild(confirm);
        box.appendChild(box2);
      });
      box.appendChild(rule);
    } else {
      box.appendChild(el('span', { 'class': 'tag', title: a.ruleProposal.reason }, 'no rule: ' + a.ruleProposal.reason));
    }
    var reason = el('input', { 'class': 'reason', placeholder: 'reason (optional)', 'data-testid': 'reason-' + a.id });
    var deny = el('button', { 'class': 'deny', 'data-testid': 'deny-' + a.id }, 'Deny');
    deny.addEventListener('click', function () { decide(a, { decision: 'deny', reason: reason.value }, 'denied'); });
    box.appendChild(reason);
    box.appendChild(deny);
    return box;
  }
  function renderBatch(b) {
    var sec = el('section', { 'class': 'batch', 'data-key': b.key });
    var head = (b.sessionName ? b.sessionName + ' (' + b.sessionId + ')' : b.sessionId) + ' · ' + b.category + ' · ' + b.ruleId + ': ' +
      b.prompts + ' ask' + (b.prompts === 1 ? '' : 's') + (b.asks > b.prompts ? ' (' + b.asks + ' with repeats)' : '');
    var h = el('h2', null, head);
    if (b.destructive > 0) h.appendChild(el('span', { 'class': 'tag destructive' }, b.destructive + ' destructive'));
    sec.appendChild(h);
    sec.appendChild(el('div', null, b.reason));
    if (b.items.length > 1) {
      var safe = b.items.filter(function (a) { return !a.destructive; });
      var items = function (list) { return list.map(function (a) { return { id: a.id, digest: a.digest }; }); };
      if (safe.length > 0) {
        var all = el('button', { 'class': 'approve', 'data-testid': 'approve-batch', disabled: '' }, 'Approve these ' + safe.length + ' once' + (safe.length < b.items.length ? ' (destructive ones left out)' : ''));
        all.addEventListener('click', function () {
          api('POST', '/api/batches/decision', { decision: 'approve', scope: 'once', items: items(safe) }).then(function (r) { say('approved ' + r.approvals.length + ' asks'); load(); }, function (e) { say(e.message, true); load(); });
        });
        sec.appendChild(all);
      }
      var none = el('button', { 'class': 'deny', 'data-testid': 'deny-batch' }, 'Deny all ' + b.items.length);
      none.addEventListener('click', function () {
        api('POST', '/api/batches/decision', { decision: 'deny', items: items(b.items) }).then(function (r) { say('denied ' + r.approvals.length + ' asks'); load(); }, function (e) { say(e.message, true); load(); });
      });
      sec.appendChild(none);
    }
    b.items.forEach(function (a) { sec.appendChild(renderAsk(a)); });
    return sec;
  }
  var loading = false, again = false, generation = 0, ARM_MS = 500;
  function load() {
    if (loading) { again = true; return; }
    loading = true;
    api('GET', '/api/batches').then(function (data) {
      main.textContent = '';
      var n = 0;
      data.batches.forEach(function (b) { n += b.items.length; main.appendChild(renderBatch(b)); });
      // Approve buttons arm a moment after the list changes, so a click aimed at one ask
      // cannot land on another that just slid under the pointer.
      var armed = ++generation;
      setTimeout(function () {
        if (armed !== generation) return;
        main.querySelectorAll('button.approve[disabled]').forEach(function (b) { if (!b.dataset.used) b.disabled = false; });
      }, ARM_MS);
      summary.textContent = n === 0 ? 'Nothing is waiting for approval.' : n + ' pending in ' + data.batches.length + ' batch' + (data.batches.length === 1 ? '' : 'es');
    }, function (e) { say(e.message, true); }).then(function () {
      loading = false;
      if (again) { again = false; load(); }
    });
  }
  function stream() {
    fetch('/api/stream', { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' }).then(function (res) {
      if (!res.ok || !res.body) throw new Error('stream HTTP ' + res.status);
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      var buf = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) throw new Error('stream ended');
          buf += dec.decode(r.value, { stream: true });
          var i;
          while ((i = buf.indexOf('\\n\\n')) >= 0) {
            var chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            if (/^event: (ask|decided)/m.test(chunk)) load();
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () { setTimeout(stream, 2000); });
  }
  if (!token) {
    summary.textContent = 'No token: open the address airlock serve printed (it ends in #token=…).';
    return;
  }
  load();
  stream();
})();
`;
