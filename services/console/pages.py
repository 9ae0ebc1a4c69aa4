"""Server-rendered pages. Every value from outside (customer text, names, summaries, notices) goes
through `h()` (HTML-escaped); data for the page script goes in a JSON <script> block with "<", ">"
and "&" escaped, and the script writes it with textContent, never as HTML."""

from __future__ import annotations

import html
import json

from services.console.session import Session

h = html.escape


def page_data(data: dict) -> str:
    """JSON for a <script type="application/json"> block that no text can break out of."""
    text = json.dumps(data, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def layout(
    title: str, body: str, session: Session | None, csrf: str = "", data: dict | None = None, cls: str = ""
) -> str:
    nav = ""
    if session is not None:
        wallboard = '<a href="/wallboard">Wallboard</a>' if session.supervisor else ""
        nav = f"""<nav><a href="/" class="brand">cs console</a><a href="/">Inbox</a>{wallboard}
<span class="who">{h(session.agent_id)} · {h(session.role)}</span>
<form method="post" action="/signout" class="inline"><input type="hidden" name="csrf" value="{h(csrf)}">
<button type="submit" class="link">Sign out</button></form></nav>"""
    script = f'<script id="page-data" type="application/json">{page_data(data)}</script>' if data is not None else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{h(csrf)}">
<title>{h(title)} · cs console</title><link rel="stylesheet" href="/static/console.css"></head>
<body class="{h(cls)}">{nav}<div id="status" class="status" hidden></div>
<main>{body}</main>{script}<script src="/static/console.js" defer></script></body></html>"""


def notice_html(notice: str | None) -> str:
    return f'<p class="notice" role="alert" id="notice">{h(notice)}</p>' if notice else ""


def signin_page(tenant: str, error: str = "", name: str = "", next_path: str = "/") -> str:
    err = f'<p class="error" role="alert" id="signin-error">{h(error)}</p>' if error else ""
    body = f"""<section class="signin"><h1>Sign in</h1><p class="muted">Organisation: {h(tenant)}</p>{err}
<form method="post" action="/signin" id="signin-form">
<input type="hidden" name="next" value="{h(next_path)}">
<label>Name <input name="name" autocomplete="username" required value="{h(name)}" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></section>"""
    return layout("Sign in", body, None, data={"page": "signin"})


def unavailable_page(session: Session | None, csrf: str) -> str:
    body = """<section><h1>The gateway is unavailable</h1>
<p id="unavailable">The console cannot reach the gateway right now. This page tries again by itself every few seconds.</p></section>"""
    return layout("Unavailable", body, session, csrf, data={"page": "unavailable"})


def inbox_page(session: Session, csrf: str, queues: tuple[str, ...], notice: str | None, thresholds: dict) -> str:
    columns = "".join(
        f"""<section class="queue" data-queue="{h(q)}"><h2>{h(q)} <span class="count" data-count="{h(q)}">0</span></h2>
<ol class="cards" data-cards="{h(q)}"></ol></section>"""
        for q in queues
    )
    body = f"""{notice_html(notice)}
<h1>Inbox</h1>
<p class="muted keys">Keys: <kbd>n</kbd> next · <kbd>c</kbd> claim · <kbd>o</kbd> open (on a conversation: <kbd>r</kbd> reply · <kbd>e</kbd> resolve)</p>
<div class="queues">{columns}</div>
<section class="bots"><h2>With the bot now <span class="count" id="bot-count">0</span></h2>
<ol class="cards" id="bot-cards"></ol></section>"""
    return layout(
        "Inbox", body, session, csrf, data={"page": "inbox", "queues": list(queues), "thresholds": thresholds}
    )


def conversation_page(
    session: Session,
    csrf: str,
    view: dict,
    messages: list[dict],
    customer: dict,
    cursor: int,
    suggested: str,
    client_reply_id: str,
    queues: tuple[str, ...],
    notice: str | None,
) -> str:
    cid = view["conversation_id"]
    mine = view["state"] == "agent" and view["agent_id"] == session.agent_id
    owner = f" · {h(view['agent_id'])}" if view["agent_id"] else ""
    hidden = f'<input type="hidden" name="csrf" value="{h(csrf)}">'
    options = "".join(f'<option value="{h(q)}">{h(q)}</option>' for q in queues if q != view["queue"])
    actions = ""
    if view["state"] == "queued":
        actions += f'<form method="post" action="/c/{h(cid)}/claim" class="inline">{hidden}<button id="claim" type="submit">Claim <kbd>c</kbd></button></form>'
    if view["state"] == "bot":
        actions += f'<form method="post" action="/c/{h(cid)}/takeover" class="inline">{hidden}<button id="takeover" type="submit">Take over</button></form>'
    if mine or (session.supervisor and view["state"] in ("agent", "queued")):
        actions += f"""<form method="post" action="/c/{h(cid)}/transfer" class="inline" id="transfer-form">{hidden}
<select name="queue" aria-label="queue">{options}</select><input name="note" placeholder="note for the next agent" maxlength="500">
<button type="submit">Transfer</button></form>"""
    if mine or session.supervisor:
        actions += f'<form method="post" action="/c/{h(cid)}/resolve" class="inline">{hidden}<button id="resolve" type="submit">Resolve <kbd>e</kbd></button></form>'
    reply = ""
    if mine:
        reply = f"""<form method="post" action="/c/{h(cid)}/reply" id="reply-form">{hidden}
<input type="hidden" name="client_reply_id" value="{h(client_reply_id)}">
<label for="reply-text">Reply <span class="muted">(<kbd>r</kbd> to focus, <kbd>Ctrl</kbd>+<kbd>Enter</kbd> sends)</span></label>
<textarea id="reply-text" name="text" rows="4" required maxlength="4000">{h(suggested)}</textarea>
<button type="submit" id="send">Send</button></form>"""
    profile = "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in customer.items() if v)
    body = f"""{notice_html(notice)}
<div class="conversation-head"><h1>Conversation <code>{h(cid)}</code></h1>
<p class="state" id="conv-state" data-state="{h(view["state"])}">{h(view["state"])}{owner}{" · queue " + h(view["queue"]) if view["queue"] else ""}</p></div>
<div class="conversation">
<section class="thread"><ol id="messages" class="messages"></ol>{reply}</section>
<aside><h2>Customer</h2><dl class="profile">{profile or "<dt>profile</dt><dd>nothing known</dd>"}</dl>
<div class="actions">{actions}</div>
<p class="muted"><a href="/">← inbox</a> (<kbd>n</kbd> next waiting)</p></aside></div>"""
    return layout(
        f"Conversation {cid}",
        body,
        session,
        csrf,
        data={
            "page": "conversation",
            "conversation_id": cid,
            "cursor": cursor,
            "messages": messages,
            "mine": mine,
            "csrf": csrf,
        },
    )


def wallboard_page(session: Session, csrf: str, big: bool, thresholds: dict) -> str:
    body = """<div class="wall-head"><h1>Wallboard</h1>
<button id="big" type="button">Big screen <kbd>f</kbd></button></div>
<table class="wall" id="wall"><thead><tr><th>Queue</th><th>Waiting now</th><th>Longest wait</th>
<th>Service level</th><th>Escalated (1 h)</th><th>Claimed (1 h)</th><th>Abandoned (1 h)</th><th>Reasons (1 h)</th></tr></thead>
<tbody id="wall-rows"></tbody></table>
<div class="wall-side"><section><h2>Agents</h2><ol id="wall-agents" class="agents"></ol></section>
<section><h2>CSAT</h2><p class="big-number" id="wall-csat">–</p><p class="muted" id="wall-csat-note"></p></section></div>
<section class="day"><h2>The last 24 hours <span class="muted">bars: escalations per hour · line: mean wait to claim</span></h2>
<div id="wall-day"></div></section>
<p class="muted" id="wall-definitions"></p><p class="muted">Updated <span id="wall-updated">–</span></p>"""
    return layout(
        "Wallboard",
        body,
        session,
        csrf,
        data={"page": "wallboard", "thresholds": thresholds},
        cls="big-screen" if big else "",
    )
