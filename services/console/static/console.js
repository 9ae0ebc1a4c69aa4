// The console's page script: live lists over Server-Sent Events, drafts kept in sessionStorage,
// keyboard shortcuts. Text from the server is only ever set with textContent, never as HTML.
(function () {
  'use strict';
  var dataEl = document.getElementById('page-data');
  var page = dataEl ? JSON.parse(dataEl.textContent) : {};
  var csrf = (document.querySelector('meta[name=csrf-token]') || {}).content || '';
  // What arrived over SSE, for whoever wants to check (the browser tests do): type and id of each.
  var seen = (window.__cs = { events: [] });

  function el(tag, attrs) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'class') e.className = attrs[k];
      else if (k === 'text') e.textContent = attrs[k];
      else e.setAttribute(k, attrs[k]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function postForm(action, fields, label, cls) {
    var f = el('form', { method: 'post', action: action, class: 'inline' });
    f.append(el('input', { type: 'hidden', name: 'csrf', value: csrf }));
    Object.keys(fields || {}).forEach(function (k) { f.append(el('input', { type: 'hidden', name: k, value: fields[k] })); });
    f.append(el('button', { type: 'submit', class: cls || '' }, label));
    return f;
  }

  // Status banner: offline / gateway down, cleared when the stream is back.
  var statusEl = document.getElementById('status');
  var problems = {};
  function setProblem(key, text) {
    if (text) problems[key] = text; else delete problems[key];
    var keys = Object.keys(problems);
    statusEl.hidden = keys.length === 0;
    statusEl.textContent = keys.map(function (k) { return problems[k]; }).join(' ');
    statusEl.dataset.state = keys.length ? keys.join(' ') : 'ok';
  }

  function signInAgain() {
    location.href = '/signin?next=' + encodeURIComponent(location.pathname);
  }

  // One EventSource per tab. The browser resends the last id (Last-Event-ID) when it reconnects by
  // itself; when it gives up (CLOSED), a new one is opened with the last id as ?after=.
  function stream(url, handlers) {
    var lastId = '';
    var source = null;
    function open() {
      var u = url + (lastId ? (url.indexOf('?') < 0 ? '?' : '&') + 'after=' + encodeURIComponent(lastId) : '');
      source = new EventSource(u);
      source.onopen = function () { seen.opens = (seen.opens || 0) + 1; setProblem('offline', null); };
      source.onerror = function () {
        setProblem('offline', 'Connection lost; reconnecting…');
        if (source.readyState === EventSource.CLOSED) setTimeout(open, 2000);
      };
      source.addEventListener('expired', signInAgain);
      source.addEventListener('status', function (ev) {
        var s = JSON.parse(ev.data);
        setProblem('gateway', s.gateway === 'up' ? null :
          (s.gateway === 'down' ? 'The gateway is unavailable; retrying by itself…' : 'Gateway error: ' + (s.detail || '')));
      });
      Object.keys(handlers).forEach(function (type) {
        source.addEventListener(type, function (ev) {
          if (ev.lastEventId) lastId = ev.lastEventId;
          seen.events.push({ type: type, id: ev.lastEventId, data: ev.data });
          handlers[type](JSON.parse(ev.data));
        });
      });
    }
    // The browser says the network is gone: stop waiting on a dead connection, and resume from the
    // last id as soon as it is back.
    window.addEventListener('offline', function () {
      if (source) source.close();
      setProblem('offline', 'Connection lost; reconnecting…');
    });
    window.addEventListener('online', function () {
      if (source) source.close();
      open();
    });
    open();
  }

  function waitText(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + (seconds % 60) + ' s';
    return Math.floor(seconds / 3600) + ' h ' + Math.floor((seconds % 3600) / 60) + ' min';
  }
  function waitClass(seconds, t) {
    return seconds >= t.red_s ? 'red' : seconds >= t.amber_s ? 'amber' : 'green';
  }
  function tickWaits(t) {
    var now = Date.now();
    document.querySelectorAll('[data-since]').forEach(function (e) {
      var s = (now - Date.parse(e.dataset.since)) / 1000;
      e.textContent = waitText(s);
      e.className = 'wait ' + waitClass(s, t);
    });
  }

  function isTyping(ev) {
    var t = ev.target;
    return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT');
  }

  function inbox() {
    var queues = {};
    page.queues.forEach(function (q) { queues[q] = new Map(); });
    var selected = null;

    function card(item) {
      var li = el('li', { class: 'card priority-' + (item.priority || 'normal'), 'data-cid': item.conversation_id, tabindex: '0' });
      li.append(el('div', { class: 'card-head' },
        el('span', { class: 'badge', text: item.priority || 'normal' }),
        el('span', { class: 'wait', 'data-since': item.escalated_at || new Date().toISOString() }),
        el('a', { href: '/c/' + encodeURIComponent(item.conversation_id), class: 'cid', text: item.conversation_id })));
      li.append(el('p', { class: 'reasons', text: (item.reasons || []).map(function (r) { return r.code.replace(/_/g, ' '); }).join(', ') }));
      if (item.transferred_from) li.append(el('p', { class: 'muted', text: 'transferred from ' + item.transferred_from }));
      li.append(el('p', { class: 'summary', text: item.summary || '' }));
      li.append(postForm('/c/' + encodeURIComponent(item.conversation_id) + '/claim', {}, 'Claim', 'claim'));
      li.addEventListener('click', function (ev) { if (ev.target.tagName !== 'BUTTON' && ev.target.tagName !== 'A') select(item.conversation_id); });
      return li;
    }
    function render(queue) {
      var list = document.querySelector('[data-cards="' + CSS.escape(queue) + '"]');
      var items = Array.from(queues[queue].values()).sort(function (a, b) {
        return (a.escalated_at || '').localeCompare(b.escalated_at || '') || a.conversation_id.localeCompare(b.conversation_id);
      });
      list.replaceChildren.apply(list, items.map(card));
      document.querySelector('[data-count="' + CSS.escape(queue) + '"]').textContent = String(items.length);
      if (selected) highlight();
      tickWaits(page.thresholds);
    }
    function allCards() { return Array.from(document.querySelectorAll('.queues .card')); }
    function highlight() {
      allCards().forEach(function (c) { c.classList.toggle('selected', c.dataset.cid === selected); });
    }
    function select(cid) { selected = cid; highlight(); }
    function next() {
      var cards = allCards();
      if (!cards.length) return;
      var at = cards.findIndex(function (c) { return c.dataset.cid === selected; });
      select(cards[(at + 1) % cards.length].dataset.cid);
    }
    stream('/events/inbox', {
      snapshot: function (d) {
        queues[d.queue] = new Map(d.items.map(function (i) { return [i.conversation_id, i]; }));
        render(d.queue);
      },
      added: function (d) {
        // A conversation is in one queue at a time: an escalation elsewhere moves it.
        Object.keys(queues).forEach(function (q) { if (q !== d.queue && queues[q].delete(d.conversation_id)) render(q); });
        queues[d.queue].set(d.conversation_id, d);
        render(d.queue);
      },
      removed: function (d) {
        if (queues[d.queue].delete(d.conversation_id)) render(d.queue);
      },
      bots: function (list) {
        var ol = document.getElementById('bot-cards');
        ol.replaceChildren.apply(ol, list.map(function (c) {
          return el('li', { class: 'card bot', 'data-cid': c.conversation_id },
            el('div', { class: 'card-head' },
              el('a', { href: '/c/' + encodeURIComponent(c.conversation_id), class: 'cid', text: c.conversation_id }),
              el('span', { class: 'muted', text: 'customer ' + c.customer_id + ' · ' + c.channel })),
            postForm('/c/' + encodeURIComponent(c.conversation_id) + '/takeover', {}, 'Take over', 'takeover'));
        }));
        document.getElementById('bot-count').textContent = String(list.length);
      }
    });
    setInterval(function () { tickWaits(page.thresholds); }, 1000);
    document.addEventListener('keydown', function (ev) {
      if (isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === 'n' || ev.key === 'j') { next(); ev.preventDefault(); }
      else if (ev.key === 'c' && selected) {
        var b = document.querySelector('.card[data-cid="' + CSS.escape(selected) + '"] button.claim');
        if (b) b.click();
      } else if ((ev.key === 'o' || ev.key === 'Enter') && selected) location.href = '/c/' + encodeURIComponent(selected);
    });
    if (location.hash === '#next') setTimeout(next, 300);
  }

  function conversation() {
    var cid = page.conversation_id;
    var list = document.getElementById('messages');
    var byId = new Map();
    function understandingLine(u) {
      if (!u) return el('p', { class: 'understanding muted', text: 'not enriched yet' });
      var parts = ['intent ' + (u.out_of_scope ? 'out of scope' : u.intent) + ' (' + u.confidence + ')',
        'sentiment ' + u.sentiment + ' (' + u.sentiment_score + ')' + (u.emotion ? ', ' + u.emotion : '')];
      if (u.language) parts.push('language ' + u.language);
      if (u.entities && u.entities.length) parts.push('entities ' + u.entities.map(function (e) { return e.type + ' ' + (e.value || e.text); }).join('; '));
      return el('p', { class: 'understanding', text: parts.join(' · ') });
    }
    function render(m) {
      var li = el('li', { class: 'msg author-' + m.author, 'data-mid': m.id });
      li.append(el('div', { class: 'msg-head' },
        el('strong', { text: m.author === 'agent' ? 'agent ' + (m.agent_id || '') : m.author }),
        el('span', { class: 'muted', text: m.at ? new Date(m.at).toLocaleTimeString() : '' }),
        m.kind && m.author !== 'customer' ? el('span', { class: 'badge', text: m.kind }) : null));
      li.append(el('p', { class: 'text', text: m.text }));
      if (m.author === 'customer') {
        li.append(understandingLine(m.understanding));
        var f = el('form', { method: 'post', action: '/c/' + encodeURIComponent(cid) + '/relabel', class: 'relabel inline' });
        f.append(el('input', { type: 'hidden', name: 'csrf', value: csrf }));
        f.append(el('input', { type: 'hidden', name: 'message_id', value: m.id }));
        f.append(el('input', { name: 'intent', placeholder: m.correction ? 'relabelled: ' + m.correction : 'correct intent', 'aria-label': 'correct intent', size: '18' }));
        f.append(el('button', { type: 'submit', class: 'link' }, 'Relabel'));
        li.append(f);
      }
      if (m.citations && m.citations.length) li.append(el('p', { class: 'citations', text: 'cites ' + m.citations.join(', ') }));
      return li;
    }
    function upsert(m) {
      var old = byId.get(m.id);
      if (old && !m.understanding && old.understanding) m.understanding = old.understanding;
      var node = render(m);
      var existing = list.querySelector('[data-mid="' + CSS.escape(m.id) + '"]');
      if (existing) existing.replaceWith(node); else list.append(node);
      byId.set(m.id, m);
      node.scrollIntoView({ block: 'nearest' });
    }
    page.messages.forEach(upsert);
    stream('/events/c/' + encodeURIComponent(cid) + '?after=' + page.cursor, {
      message: upsert,
      state: function (s) {
        var st = document.getElementById('conv-state');
        st.dataset.state = s.state;
        st.textContent = s.state + (s.agent_id ? ' · ' + s.agent_id : '') + (s.queue ? ' · queue ' + s.queue : '');
      }
    });
    var box = document.getElementById('reply-text');
    var key = 'draft:' + cid;
    if (box) {
      if (/[?&]sent=1/.test(location.search)) { sessionStorage.removeItem(key); box.value = ''; }
      else if (sessionStorage.getItem(key) !== null) box.value = sessionStorage.getItem(key);
      box.addEventListener('input', function () { sessionStorage.setItem(key, box.value); });
      box.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); document.getElementById('reply-form').requestSubmit(); }
      });
      document.getElementById('reply-form').addEventListener('submit', function () { sessionStorage.setItem(key, box.value); });
    } else if (sessionStorage.getItem(key)) {
      // Signed out mid-reply and the conversation is not ours (yet): keep the draft for later.
      var note = el('p', { class: 'notice', id: 'draft-kept', text: 'Your unsent reply is kept; claim the conversation to send it.' });
      document.querySelector('main').prepend(note);
    }
    document.addEventListener('keydown', function (ev) {
      if (isTyping(ev) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var click = function (id) { var b = document.getElementById(id); if (b) { b.click(); ev.preventDefault(); } };
      if (ev.key === 'c') click('claim');
      else if (ev.key === 'e') click('resolve');
      else if (ev.key === 'r' && box) { box.focus(); ev.preventDefault(); }
      else if (ev.key === 'n') location.href = '/#next';
    });
  }

  function wallboard() {
    var t = page.thresholds;
    function slClass(v) { return v < 0 ? 'none' : v >= t.sl_green ? 'green' : v >= t.sl_amber ? 'amber' : 'red'; }
    function cell(text, cls) { return el('td', { class: cls || '', text: text }); }
    stream('/events/wallboard', {
      wallboard: function (w) {
        var rows = document.getElementById('wall-rows');
        rows.replaceChildren.apply(rows, w.queues.map(function (q) {
          var reasons = Object.keys(q.reasons).map(function (r) { return r.replace(/_/g, ' ') + ' ' + q.reasons[r]; }).join(', ');
          return el('tr', { 'data-queue': q.queue },
            cell(q.queue, 'queue-name'),
            cell(String(q.waiting), 'waiting ' + (q.waiting ? waitClass(q.longest_wait_s, t) : 'green')),
            cell(q.waiting ? waitText(q.longest_wait_s) : '–', 'longest ' + waitClass(q.longest_wait_s, t)),
            cell(q.service_level < 0 ? '–' : Math.round(q.service_level * 100) + ' %', 'sl ' + slClass(q.service_level)),
            cell(String(q.escalated), 'escalated'),
            cell(q.claimed + ' (' + q.within + ' in ' + w.service_level_s + ' s)', 'claimed'),
            cell(String(q.abandoned), 'abandoned ' + (q.abandoned ? 'amber' : 'green')),
            cell(reasons || '–', 'reasons'));
        }));
        var agents = document.getElementById('wall-agents');
        agents.replaceChildren.apply(agents, w.agents.map(function (a) {
          return el('li', { 'data-agent': a.agent_id, class: a.signed_in ? 'on' : 'off' },
            a.agent_id + (a.signed_in ? ' · signed in' : ' · signed out') + ' · ' + a.conversations + ' conversation' + (a.conversations === 1 ? '' : 's'));
        }));
        document.getElementById('wall-csat').textContent = w.csat_responses ? w.csat_average.toFixed(2) + ' / 5' : '–';
        document.getElementById('wall-csat-note').textContent = w.csat_responses + ' ratings in the last ' + Math.round(w.csat_window_s / 3600) + ' h';
        document.getElementById('wall-definitions').textContent =
          'Service level: the last hour\'s escalations claimed within ' + w.service_level_s + ' s, of those whose outcome is known. Abandoned: ' + w.abandoned_definition + '.';
        document.getElementById('wall-updated').textContent = new Date(w.computed_at).toLocaleTimeString();
        drawDay(document.getElementById('wall-day'), w.day);
      }
    });
    // Escalations per hour as bars, the mean wait to claim as a line (own scale), built as SVG nodes.
    function drawDay(box, day) {
      var NS = 'http://www.w3.org/2000/svg', W = 960, H = 160, pad = 24;
      function node(tag, attrs, text) {
        var n = document.createElementNS(NS, tag);
        Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
        if (text !== undefined) n.textContent = text;
        return n;
      }
      var svg = node('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'day-chart', role: 'img', 'aria-label': 'escalations and waits, last 24 hours' });
      var maxE = Math.max(1, Math.max.apply(null, day.map(function (h) { return h.escalated; })));
      var maxW = Math.max(1, Math.max.apply(null, day.map(function (h) { return h.mean_wait_s; })));
      var step = (W - 2 * pad) / Math.max(1, day.length);
      var points = [];
      day.forEach(function (h, i) {
        var x = pad + i * step, bh = (H - 2 * pad) * h.escalated / maxE;
        var bar = node('rect', { x: x + 2, y: H - pad - bh, width: step - 4, height: bh, class: 'bar', 'data-escalated': h.escalated });
        bar.append(node('title', {}, new Date(h.hour).getHours() + ':00 — ' + h.escalated + ' escalated, ' + h.claimed + ' claimed, mean wait ' + waitText(h.mean_wait_s)));
        svg.append(bar);
        if (h.claimed) {
          var px = x + step / 2, py = H - pad - (H - 2 * pad) * h.mean_wait_s / maxW;
          points.push(px + ',' + py);
          svg.append(node('circle', { cx: px, cy: py, r: 3.5, class: 'wait-point' }));
        }
        if (i % 3 === 0) svg.append(node('text', { x: x + step / 2, y: H - 6, class: 'tick' }, String(new Date(h.hour).getHours()).padStart(2, '0')));
      });
      if (points.length) svg.append(node('polyline', { points: points.join(' '), class: 'wait-line' }));
      svg.append(node('text', { x: 4, y: 14, class: 'tick' }, 'max ' + maxE + ' / h · wait max ' + waitText(maxW)));
      box.replaceChildren(svg);
    }
    function toggleBig() { document.body.classList.toggle('big-screen'); }
    document.getElementById('big').addEventListener('click', toggleBig);
    document.addEventListener('keydown', function (ev) { if (!isTyping(ev) && ev.key === 'f') toggleBig(); });
  }

  function unavailable() { setTimeout(function () { location.reload(); }, 3000); }

  ({ inbox: inbox, conversation: conversation, wallboard: wallboard, unavailable: unavailable }[page.page] || function () {})();
})();
