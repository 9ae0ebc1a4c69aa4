/* cs-platform web chat widget: <script src=".../widget.js" data-widget-key="cs_wk_..." async></script>
   Vanilla JS, no dependencies. Message text is only ever set with textContent. */
(function () {
  "use strict";
  var script = document.currentScript;
  var KEY = script && script.getAttribute("data-widget-key");
  if (!KEY || window.__csWebchat) return;
  window.__csWebchat = true;
  var API = new URL(script.src).origin + "/api/" + encodeURIComponent(KEY);
  var ZH = /^zh/i.test(document.documentElement.lang || "");
  var T = ZH ? {
    title: "在线客服", open: "打开聊天", close: "关闭聊天", label: "您的消息", placeholder: "请输入消息…",
    send: "发送", you: "您", bot: "智能助手", queued: "正在为您转接人工客服，请稍候。",
    agent: "{name} 正在为您服务", resolved: "本次对话已结束，发送消息即可重新开始。",
    down: "暂时无法连接客服，正在重试…", tooLong: "消息过长（{n}/{max} 字），请缩短后再发送。",
    binary: "消息包含无法发送的字符。", slow: "发送太频繁，请稍候。", forbidden: "此网站无法使用该聊天。",
    failed: "消息未能发送。", up: "有帮助", downVote: "没有帮助", ask: "有帮助吗？", yes: "是", no: "否", rate: "为本次服务评分：", stars: "{n} 分（满分 5 分）", thanks: "感谢您的反馈。",
    hello: "您好！有什么可以帮您？"
  } : {
    title: "Chat with us", open: "Open chat", close: "Close chat", label: "Your message", placeholder: "Type a message…",
    send: "Send", you: "You", bot: "Assistant", queued: "A person is coming. Please stay here.",
    agent: "You are chatting with {name}", resolved: "This conversation was closed. Write to start again.",
    down: "We can't reach the chat service. Retrying…", tooLong: "Your message is too long ({n} of {max} characters).",
    binary: "Your message contains characters that can't be sent.", slow: "You are sending too fast. Please wait a moment.",
    forbidden: "This chat is not available on this site.", failed: "Your message could not be sent.",
    up: "Helpful", downVote: "Not helpful", ask: "Helpful?", yes: "Yes", no: "No", rate: "Rate this service:", stars: "{n} of 5", thanks: "Thanks for your feedback.",
    hello: "Hello! How can we help you today?"
  };
  var STORE = "cs-webchat:" + KEY;
  var st = load();
  var maxChars = 4000, es = null, flushing = false, delay = 1000, renewTimer = 0, pendingSession = null;
  var items = {}, streams = {};

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; }
  }
  function save() {
    try { localStorage.setItem(STORE, JSON.stringify(st)); } catch (e) { /* private mode: this page only */ }
  }
  function fmt(s, v) { return s.replace(/\{(\w+)\}/g, function (_, k) { return v[k]; }); }
  function rid() { return "w" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  // --- the panel -----------------------------------------------------------------------------------
  var host = el("div");
  host.id = "cs-webchat";
  var root = host.attachShadow({ mode: "open" });
  var css = el("style", null,
    ":host{all:initial}*{box-sizing:border-box;font:15px/1.4 system-ui,sans-serif}" +
    ".launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;" +
    "background:#1f5fbf;color:#fff;cursor:pointer;box-shadow:0 4px 14px #0004}" +
    ".panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:370px;height:min(600px,calc(100vh - 40px));" +
    "display:flex;flex-direction:column;background:#fff;color:#1b1b1b;border-radius:12px;box-shadow:0 8px 30px #0005;overflow:hidden}" +
    ".panel[hidden]{display:none}header{display:flex;align-items:center;background:#1f5fbf;color:#fff;padding:10px 12px}" +
    "h2{flex:1;margin:0;font-weight:600;font-size:16px}.x{border:0;background:none;color:#fff;font-size:22px;cursor:pointer;padding:2px 8px}" +
    ".status{background:#fff6d6;padding:8px 12px;font-size:14px}.status:empty,.alert:empty{display:none}" +
    ".alert{background:#fde2e1;color:#8a1c14;padding:8px 12px;font-size:14px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px}" +
    ".log:empty::before{content:attr(data-hello);color:#555;margin:auto;text-align:center}" +
    ".m{max-width:85%;padding:8px 11px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;background:#eef1f6}" +
    ".m.customer{align-self:flex-end;background:#1f5fbf;color:#fff}.m.pending{opacity:.6}" +
    ".m.streaming::after{content:'\\2026'}.who{display:block;font-size:12px;font-weight:600;opacity:.75;margin-bottom:2px}" +
    ".fb{display:flex;align-items:center;gap:6px;margin-top:4px;font-size:12px}.fb button{border:1px solid #bbb;background:#fff;border-radius:6px;cursor:pointer;padding:1px 7px}" +
    ".fb button[aria-pressed=true]{background:#dfe9fb;border-color:#1f5fbf}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #ddd}" +
    "textarea{flex:1;resize:none;height:44px;padding:8px;border:1px solid #aaa;border-radius:8px}" +
    "form button{border:0;border-radius:8px;background:#1f5fbf;color:#fff;padding:0 16px;cursor:pointer}" +
    ":focus-visible{outline:3px solid #f5a623;outline-offset:2px}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0}.launch{right:12px;bottom:12px}}");
  var launch = el("button", "launch", T.title);
  launch.type = "button";
  launch.setAttribute("aria-label", T.open);
  launch.setAttribute("aria-expanded", "false");
  launch.setAttribute("aria-controls", "cs-panel");
  var panel = el("div", "panel");
  panel.id = "cs-panel";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", T.title);
  var head = el("header"), h2 = el("h2", null, T.title), x = el("button", "x", "\u00D7");
  x.type = "button";
  x.setAttribute("aria-label", T.close);
  head.append(h2, x);
  var status = el("div", "status");
  status.setAttribute("role", "status");
  var alert = el("div", "alert");
  alert.setAttribute("role", "alert");
  var log = el("div", "log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.tabIndex = 0;
  log.setAttribute("data-hello", T.hello);
  var form = el("form"), lab = el("label", "sr", T.label), box = el("textarea"), go = el("button", null, T.send);
  box.id = "cs-input";
  lab.htmlFor = "cs-input";
  box.placeholder = T.placeholder;
  go.type = "submit";
  form.append(lab, box, go);
  panel.append(head, status, alert, log, form);
  root.append(css, launch, panel);
  document.body.appendChild(host);

  function show(open, quiet) {
    panel.hidden = !open;
    launch.hidden = open;
    launch.setAttribute("aria-expanded", String(open));
    st.open = open;
    save();
    if (open) start();
    if (!quiet) (open ? box : launch).focus();
  }
  launch.onclick = function () { show(true); };
  x.onclick = function () { show(false); };
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") show(false); });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
  });
  form.onsubmit = function (e) { e.preventDefault(); submit(); };

  // --- rendering -----------------------------------------------------------------------------------
  function bubble(id, m) {
    var b = el("div", "m " + m.author);
    b.setAttribute("data-id", id);
    var who = m.author === "customer" ? T.you : m.author === "agent" ? m.agent : m.author === "bot" ? T.bot : "";
    if (who) b.appendChild(el("span", "who", who));
    b.appendChild(el("span", "text", m.text));
    log.appendChild(b);
    items[id] = b;
    return b;
  }
  function scroll() { log.scrollTop = log.scrollHeight; }
  function finalReply(m) {
    if (items[m.id] && !streams[m.id]) return;
    var b = streams[m.id];
    delete streams[m.id];
    if (b) {
      b.classList.remove("streaming");
      b.removeAttribute("aria-busy");
      b.querySelector(".text").textContent = m.text;
    } else {
      b = bubble(m.id, m);
    }
    if (m.author === "agent" || m.kind === "answer" || m.kind === "fallback") feedback(b, m.id);
    if (m.author === "agent") csat(b, m.id);
    scroll();
  }
  function token(t) {
    if (items[t.id] && !streams[t.id]) return;
    var b = streams[t.id];
    if (!b) {
      b = streams[t.id] = bubble(t.id, { author: "bot", text: "" });
      b.classList.add("streaming");
      b.setAttribute("aria-busy", "true");
      b.next = 0;
    }
    var span = b.querySelector(".text");
    if (t.index === 0) { span.textContent = ""; b.next = 0; }
    if (t.index !== b.next) return;
    span.textContent += t.text;
    b.next++;
    scroll();
  }
  function customer(id, text, pending) {
    var b = items[id] || bubble(id, { author: "customer", text: text });
    b.classList.toggle("pending", !!pending);
    scroll();
    return b;
  }
  function feedback(b, replyId) {
    var row = el("div", "fb", T.ask), up = el("button", null, T.yes), dn = el("button", null, T.no);
    [[up, T.up, "up"], [dn, T.downVote, "down"]].forEach(function (p) {
      p[0].type = "button";
      p[0].setAttribute("aria-label", p[1]);
      p[0].setAttribute("aria-pressed", "false");
      p[0].onclick = function () {
        api("POST", "/feedback", { conversation_id: st.cid, reply_id: replyId, rating: p[2] }).then(function () {
          p[0].setAttribute("aria-pressed", "true");
          up.disabled = dn.disabled = true;
          row.appendChild(el("span", "thanks", T.thanks));
        }, problem);
      };
    });
    row.append(up, dn);
    b.appendChild(row);
  }
  function csat(b, replyId) {
    var row = el("div", "fb", T.rate);
    for (var n = 1; n <= 5; n++) (function (n) {
      var star = el("button", null, String(n));
      star.type = "button";
      star.setAttribute("aria-label", fmt(T.stars, { n: n }));
      star.onclick = function () {
        api("POST", "/feedback", { conversation_id: st.cid, reply_id: replyId, csat: n }).then(function () {
          row.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
          star.setAttribute("aria-pressed", "true");
          row.appendChild(el("span", "thanks", T.thanks));
        }, problem);
      };
      row.appendChild(star);
    })(n);
    b.appendChild(row);
  }
  function state(s) {
    status.textContent = s.state === "queued" ? T.queued : s.state === "agent" ? fmt(T.agent, { name: s.agent })
      : s.state === "resolved" ? T.resolved : "";
  }
  function history(c) {
    c.messages.forEach(function (m) {
      if (m.author === "customer") {
        var waiting = (st.pending || []).filter(function (p) { return p.text === m.text && !items[m.id]; })[0];
        if (waiting && items[waiting.cmid]) { items[m.id] = items[waiting.cmid]; return; }
        customer(m.id, m.text, false);
      } else {
        finalReply(m);
        st.lastId = m.id;
      }
    });
    state(c);
    save();
  }

  // --- talking to the service ----------------------------------------------------------------------
  function problem(e) {
    var r = e.reason;
    alert.textContent = r === "message_too_long" ? fmt(T.tooLong, { n: e.n || "?", max: maxChars })
      : r === "binary_message" ? T.binary : r === "rate_limited" ? T.slow
      : r === "forbidden_origin" || r === "unknown_widget_key" ? T.forbidden
      : retryable(e) ? T.down : T.failed;
  }
  function retryable(e) { return !e.status || e.status === 429 || e.status >= 500; }
  function ok() { alert.textContent = ""; delay = 1000; }
  function later(fn) { setTimeout(fn, delay); delay = Math.min(delay * 2, 15000); }

  function request(method, path, body, token) {
    var headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    return fetch(API + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.ok) return j;
          var e = new Error(j.message || "HTTP " + r.status);
          e.status = r.status;
          e.reason = j.error;
          throw e;
        });
      }, function () { var e = new Error("network"); e.status = 0; throw e; });
  }
  function session() {  // one at a time: two would make two visitors
    pendingSession = pendingSession || request("POST", "/session", { token: st.token || "" }).then(function (s) {
      pendingSession = null;
      if (!s.renewed) { st.cid = null; st.lastId = null; }
      st.token = s.token;
      maxChars = s.max_message_chars;
      save();
      clearTimeout(renewTimer);
      renewTimer = setTimeout(session, s.expires_in * 500);
    }, function (e) { pendingSession = null; throw e; });
    return pendingSession;
  }
  function api(method, path, body) {
    var used = st.token;
    var run = function () { return request(method, path, body, st.token); };
    return (used ? run() : session().then(run)).catch(function (e) {
      if (e.status !== 401 || !used) throw e;
      if (st.token === used) st.token = null;  // not when another call renewed it meanwhile
      return (st.token ? Promise.resolve() : session()).then(run);
    });
  }

  function submit() {
    var text = box.value;
    if (!text.trim()) return;
    if (text.length > maxChars) return problem({ reason: "message_too_long", n: text.length });
    if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) {
      return problem({ reason: "binary_message" });
    }
    box.value = "";
    var m = { cmid: rid(), text: text };
    st.pending = (st.pending || []).concat([m]);
    save();
    customer(m.cmid, text, true);
    flush();
  }
  function flush() {
    if (flushing || !(st.pending || []).length) return;
    flushing = true;
    var m = st.pending[0];
    api("POST", "/messages", { conversation_id: st.cid || "", text: m.text, client_message_id: m.cmid }).then(function (r) {
      flushing = false;
      ok();
      var b = items[m.cmid];
      if (items[r.message_id] && items[r.message_id] !== b) { b.remove(); } else { items[r.message_id] = b; customer(r.message_id, m.text, false); }
      st.pending.shift();
      var fresh = st.cid !== r.conversation_id;
      st.cid = r.conversation_id;
      save();
      if (fresh) reconnect();
      flush();
    }, function (e) {
      flushing = false;
      if (e.status === 404 && st.cid) { st.cid = st.lastId = null; save(); return flush(); }
      problem(e);
      if (retryable(e)) return later(flush);
      var b = items[m.cmid];
      if (b) b.classList.add("failed");
      st.pending.shift();
      save();
      flush();
    });
  }

  function drop() { if (es) { es.close(); es = null; } }
  function reconnect() { drop(); connect(); }
  function connect() {
    if (!st.cid || es || !st.open || !navigator.onLine) return;
    var cid = st.cid;
    es = { close: function () {} };  // placeholder: one connection attempt at a time
    api("GET", "/conversations/" + encodeURIComponent(cid)).then(function (c) {
      if (st.cid !== cid) { es = null; return connect(); }
      history(c);
      var url = API + "/conversations/" + encodeURIComponent(cid) + "/events?token=" + encodeURIComponent(st.token) +
        (st.lastId ? "&last_event_id=" + encodeURIComponent(st.lastId) : "");
      var source = es = new EventSource(url);
      source.addEventListener("ready", ok);
      source.addEventListener("token", function (e) { token(JSON.parse(e.data)); });
      source.addEventListener("reply", function (e) { var m = JSON.parse(e.data); finalReply(m); st.lastId = m.id; save(); });
      source.addEventListener("state", function (e) { state(JSON.parse(e.data)); });
      source.addEventListener("gone", function () { source.close(); es = null; later(connect); });
      source.onerror = function () {
        if (es !== source) return;
        source.close();
        es = null;
        later(connect);
      };
    }, function (e) {
      es = null;
      if (e.status === 404) { st.cid = null; st.lastId = null; save(); return; }
      problem(e);
      if (retryable(e)) later(connect);
    });
  }
  function start() {
    (st.pending || []).forEach(function (p) { customer(p.cmid, p.text, true); });
    connect();
    flush();
  }
  window.addEventListener("offline", function () { drop(); problem({ status: 0 }); });
  window.addEventListener("online", function () { delay = 1000; connect(); flush(); });
  if (st.open) show(true, true);
})();
