"""The task gallery's inline CSS and JavaScript (issue 11), kept apart from the Python that
renders the page so that each reads as its own language.

The script reads the task data from the page's `<script type="application/json">` blob and
builds every task card with `textContent` and `createElement`: it never assigns data to
`innerHTML`, so document-derived text cannot become markup. The page's Content Security
Policy allows exactly this script (by its hash) and no network access at all.
"""

GALLERY_CSS = """
:root { --ink:#1d2330; --muted:#5c667a; --line:#d9dee8; --bg:#f6f7fb; --card:#fff;
  --kept:#1b7f4b; --dropped:#b3261e; --accent:#3557c9; --mask:#ffe08a; --answer:#d6f5e3; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header.page { padding:14px 24px; background:#1d2330; color:#fff; display:flex; gap:20px; align-items:baseline; flex-wrap:wrap; }
header.page h1 { margin:0; font-size:20px; }
header.page nav a { color:#c9d5ff; margin-right:12px; }
header.page nav a.current { color:#fff; font-weight:600; text-decoration:none; }
main { padding:16px 24px 40px; max-width:1280px; margin:0 auto; }
section.summary { display:grid; grid-template-columns:repeat(auto-fit,minmax(380px,1fr)); gap:12px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.panel h2 { font-size:13px; margin:0 0 6px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.panel table { border-collapse:collapse; font-size:12px; width:100%; }
.panel td, .panel th { padding:2px 6px; border-bottom:1px solid var(--line); text-align:left; }
.panel td.num, .panel th.num { text-align:right; font-variant-numeric:tabular-nums; }
svg.chart { width:100%; height:auto; font-size:12px; }
svg.chart .bar { fill:#7d94e0; }
svg.chart .bar.kept { fill:#5fb589; }
svg.chart .bar.warn { fill:#e0837d; }
svg.chart .label { fill:var(--ink); }
svg.chart .value { fill:var(--muted); }
svg.chart .marker { stroke:#1d2330; stroke-width:1.5; stroke-dasharray:4 3; }
svg.chart .marker.gate { stroke:var(--dropped); }
svg.chart .marker-label { fill:var(--ink); font-size:10px; }
.note { color:var(--muted); font-size:12px; margin:4px 0; }
.sample-note { margin:14px 0 6px; padding:8px 12px; background:#eef2ff; border:1px solid #cdd7fb; border-radius:6px; }
.controls { position:sticky; top:0; z-index:2; background:var(--bg); padding:10px 0; display:flex; flex-wrap:wrap; gap:10px; align-items:center; border-bottom:1px solid var(--line); }
.controls label { font-size:12px; color:var(--muted); display:flex; gap:6px; align-items:center; }
.controls input[type=search] { width:240px; padding:5px 8px; border:1px solid var(--line); border-radius:6px; }
.controls select { padding:4px 6px; border:1px solid var(--line); border-radius:6px; background:#fff; }
.seg button { border:1px solid var(--line); background:#fff; padding:5px 10px; cursor:pointer; }
.seg button:first-child { border-radius:6px 0 0 6px; }
.seg button:last-child { border-radius:0 6px 6px 0; }
.seg button[aria-pressed=true] { background:var(--accent); border-color:var(--accent); color:#fff; }
.pager { display:flex; gap:6px; align-items:center; }
.pager button { padding:4px 10px; border:1px solid var(--line); border-radius:6px; background:#fff; cursor:pointer; }
.pager button:disabled { opacity:.4; cursor:default; }
.count { font-weight:600; }
.task { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--kept); border-radius:8px; margin:12px 0; padding:10px 14px; }
.task.dropped { border-left-color:var(--dropped); }
.task-head { display:flex; flex-wrap:wrap; gap:8px; align-items:center; margin-bottom:6px; }
.task-id { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12px; color:var(--muted); }
.badge { font-size:11px; padding:1px 8px; border-radius:10px; background:#eceff5; }
.badge.kept { background:#d9f2e5; color:var(--kept); }
.badge.dropped { background:#fbe1df; color:var(--dropped); }
.context, .option-text, .source-text { white-space:pre-wrap; word-break:break-word; margin:0; }
.context, .option-text { font:inherit; }
.context { background:#fafbfd; border:1px solid var(--line); border-radius:6px; padding:8px 10px; max-height:320px; overflow:auto; }
.code .context, .code .option-text, .source-text { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12.5px; }
mark.mask { background:var(--mask); padding:0 3px; border-radius:3px; font-weight:700; }
mark.answer-span { background:var(--answer); outline:1px solid var(--kept); }
ol.options { list-style:none; padding:0; margin:8px 0; display:grid; gap:4px; }
ol.options li { display:flex; gap:8px; padding:4px 8px; border:1px solid var(--line); border-radius:6px; }
ol.options li .letter { font-weight:700; min-width:2.2em; }
ol.options li.correct { background:var(--answer); border-color:var(--kept); }
ol.options li .tag { margin-left:auto; font-size:11px; color:var(--kept); font-weight:700; white-space:nowrap; }
.reveal { padding:4px 10px; border:1px solid var(--accent); color:var(--accent); background:#fff; border-radius:6px; cursor:pointer; }
.reveal[aria-pressed=true] { background:var(--accent); color:#fff; }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:2px 10px; font-size:12px; margin:8px 0 0; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; word-break:break-word; }
.votes { display:flex; flex-wrap:wrap; gap:4px; }
.vote { font-size:11px; padding:0 6px; border:1px solid var(--line); border-radius:8px; }
.revealed .vote.hit { background:#fbe1df; border-color:var(--dropped); }
details.source { margin-top:8px; font-size:12px; }
details.source summary { cursor:pointer; color:var(--accent); }
.source-text { max-height:360px; overflow:auto; background:#fafbfd; border:1px solid var(--line); border-radius:6px; padding:8px; margin-top:6px; }
.empty { padding:30px; text-align:center; color:var(--muted); }
table.index { border-collapse:collapse; background:#fff; margin-top:12px; }
table.index td, table.index th { padding:6px 12px; border-bottom:1px solid var(--line); text-align:right; }
table.index td:first-child, table.index th:first-child { text-align:left; }
"""

# Plain ES2017, no dependencies. Everything data-derived goes through textContent.
GALLERY_JS = r"""
(function () {
  "use strict";
  const DATA = JSON.parse(document.getElementById("gallery-data").textContent);
  const TASKS = DATA.tasks;
  const DOCS = DATA.docs;
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const MASK = "[MASK]";
  const state = { status: "all", reason: "", query: "", sort: "order", page: 0,
                  pageSize: DATA.page_size, revealAll: false };
  let haystacks = null;  // lower-cased searchable text per task, built on the first search

  function byId(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function passRate(t) { return t.n ? t.nc / t.n : null; }
  function statusOf(t) { return t.kept === null ? "unscreened" : (t.kept ? "kept" : "dropped"); }

  function searchText(t) {
    const doc = DOCS[t.doc] || {};
    return [t.id, t.doc, t.ctx, t.opts.join("\n"), t.reason || "", t.detail || "",
            doc.license || "", doc.source || "", doc.title || ""].join("\n").toLowerCase();
  }

  function filtered() {
    const q = state.query.trim().toLowerCase();
    if (q && haystacks === null) haystacks = TASKS.map(searchText);
    const out = [];
    for (let i = 0; i < TASKS.length; i++) {
      const t = TASKS[i];
      if (state.status !== "all" && statusOf(t) !== state.status) continue;
      if (state.reason && t.reason !== state.reason) continue;
      if (q && haystacks[i].indexOf(q) < 0) continue;
      out.push(t);
    }
    if (state.sort !== "order") {
      // tasks without a difficulty sort last in either direction
      const sign = state.sort === "hardest" ? 1 : -1;
      out.sort(function (a, b) {
        const pa = passRate(a), pb = passRate(b);
        if (pa === null || pb === null) return (pa === null) - (pb === null);
        return sign * (pa - pb) || (a.id < b.id ? -1 : 1);
      });
    }
    return out;
  }

  function maskedContext(t) {
    const pre = el("pre", "context");
    const parts = t.ctx.split(MASK);
    parts.forEach(function (part, i) {
      if (i > 0) pre.appendChild(el("mark", "mask", MASK));
      pre.appendChild(document.createTextNode(part));
    });
    return pre;
  }

  function optionList(t, card) {
    const list = el("ol", "options");
    t.opts.forEach(function (text, i) {
      const item = el("li");
      item.dataset.letter = LETTERS[i];
      item.appendChild(el("span", "letter", "(" + LETTERS[i] + ")"));
      item.appendChild(el("pre", "option-text", text));
      list.appendChild(item);
    });
    card.optionItems = list.children;
    return list;
  }

  function setRevealed(t, card, revealed) {
    card.classList.toggle("revealed", revealed);
    card.revealButton.setAttribute("aria-pressed", String(revealed));
    card.revealButton.textContent = revealed ? "Hide answer" : "Reveal answer";
    const item = card.optionItems[t.ans];
    item.classList.toggle("correct", revealed);
    const tag = item.querySelector(".tag");
    if (revealed && !tag) item.appendChild(el("span", "tag", "\u2713 correct answer"));
    if (!revealed && tag) tag.remove();
  }

  function votesView(t) {
    const box = el("span", "votes");
    const names = Object.keys(t.votes || {}).sort();
    if (!names.length) box.textContent = "none";
    names.forEach(function (name) {
      const pick = t.votes[name];
      // a hit is styled only once the card is revealed (CSS), so votes do not leak the answer
      box.appendChild(el("span", "vote" + (pick === t.ans ? " hit" : ""), name + " \u2192 " + (LETTERS[pick] || "?")));
    });
    return box;
  }

  function metaList(t) {
    const doc = DOCS[t.doc] || {};
    const dl = el("dl", "meta");
    function row(label, value) {
      dl.appendChild(el("dt", null, label));
      const dd = el("dd");
      if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
      dl.appendChild(dd);
    }
    row("source doc", t.doc + (doc.source ? "  \u00b7  " + doc.source : ""));
    row("license", doc.license || "unknown");
    row("generator", [t.backend, t.model, "prompt " + t.prompt].join("  \u00b7  "));
    row("difficulty", t.n ? t.nc + "/" + t.n + " correct (" + t.student + ")" : "not measured");
    row("baseline votes", votesView(t));
    return dl;
  }

  // The source text is built only when opened: most cards are never expanded.
  function sourceDetails(t) {
    const doc = DOCS[t.doc] || {};
    const details = el("details", "source");
    details.appendChild(el("summary", null, "Original source text (shows the masked span)"));
    details.addEventListener("toggle", function () {
      if (!details.open || details.built) return;
      details.built = true;
      const text = doc.text || "";
      const answer = t.opts[t.ans];
      const at = answer ? text.indexOf(answer) : -1;
      const pre = el("pre", "source-text");
      if (at >= 0) {
        pre.appendChild(document.createTextNode(text.slice(0, at)));
        pre.appendChild(el("mark", "answer-span", answer));
        pre.appendChild(document.createTextNode(text.slice(at + answer.length)));
      } else {
        pre.textContent = text;
      }
      if (doc.title) details.appendChild(el("div", "note", doc.title));
      if (doc.url) details.appendChild(el("div", "note", doc.url));
      if (at < 0) details.appendChild(el("div", "note", "The answer span is not verbatim in this text (e.g. it came from an extracted passage)."));
      if (doc.truncated) details.appendChild(el("div", "note", "Showing the first " + fmt(text.length) + " of " + fmt(doc.length) + " characters."));
      details.appendChild(pre);
    });
    return details;
  }

  function taskCard(t) {
    const status = statusOf(t);
    const card = el("article", "task " + status + (t.shape === "code" ? " code" : ""));
    card.dataset.taskId = t.id;
    const head = el("div", "task-head");
    head.appendChild(el("span", "badge " + status, status === "dropped" ? "dropped: " + t.reason : status));
    if (t.detail) head.appendChild(el("span", "note", t.detail));
    head.appendChild(el("span", "badge", t.n ? "difficulty " + t.nc + "/" + t.n : "difficulty n/a"));
    head.appendChild(el("span", "task-id", t.id));
    card.appendChild(head);
    card.appendChild(maskedContext(t));
    card.appendChild(optionList(t, card));
    const button = el("button", "reveal", "Reveal answer");
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      setRevealed(t, card, button.getAttribute("aria-pressed") !== "true");
    });
    card.revealButton = button;
    card.appendChild(button);
    card.appendChild(metaList(t));
    card.appendChild(sourceDetails(t));
    if (state.revealAll) setRevealed(t, card, true);
    return card;
  }

  function render() {
    const matching = filtered();
    const pages = Math.max(1, Math.ceil(matching.length / state.pageSize));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.pageSize;
    const shown = matching.slice(start, start + state.pageSize);
    const list = byId("tasks");
    const fragment = document.createDocumentFragment();
    shown.forEach(function (t) { fragment.appendChild(taskCard(t)); });
    if (!shown.length) fragment.appendChild(el("div", "empty", "No task matches these filters."));
    list.replaceChildren(fragment);
    const count = byId("match-count");
    count.dataset.count = String(matching.length);
    count.textContent = fmt(matching.length) + " of " + fmt(TASKS.length) + " tasks";
    byId("page-info").textContent = matching.length
      ? "showing " + fmt(start + 1) + "\u2013" + fmt(start + shown.length) + " \u00b7 page " + (state.page + 1) + " of " + pages
      : "";
    byId("prev-page").disabled = state.page === 0;
    byId("next-page").disabled = state.page >= pages - 1;
  }

  function rerender(resetPage) {
    if (resetPage) state.page = 0;
    render();
  }

  function wire() {
    document.querySelectorAll("#status-filter button").forEach(function (button) {
      button.addEventListener("click", function () {
        state.status = button.dataset.status;
        document.querySelectorAll("#status-filter button").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
        rerender(true);
      });
    });
    byId("reason-filter").addEventListener("change", function (e) { state.reason = e.target.value; rerender(true); });
    byId("sort").addEventListener("change", function (e) { state.sort = e.target.value; rerender(true); });
    byId("page-size").addEventListener("change", function (e) { state.pageSize = Number(e.target.value); rerender(true); });
    byId("reveal-all").addEventListener("change", function (e) { state.revealAll = e.target.checked; rerender(false); });
    let timer = null;
    byId("search").addEventListener("input", function (e) {
      clearTimeout(timer);
      timer = setTimeout(function () { state.query = e.target.value; rerender(true); }, 150);
    });
    byId("prev-page").addEventListener("click", function () { state.page -= 1; render(); window.scrollTo(0, byId("controls").offsetTop); });
    byId("next-page").addEventListener("click", function () { state.page += 1; render(); window.scrollTo(0, byId("controls").offsetTop); });
  }

  wire();
  render();
  document.body.dataset.ready = "true";
  window.galleryReadyMs = performance.now();
})();
"""
