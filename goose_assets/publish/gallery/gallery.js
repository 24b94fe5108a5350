
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
