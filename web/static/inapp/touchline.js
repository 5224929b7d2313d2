/*! Touchline in-app nudges: docs/inapp.md. No dependencies, no inline style or script. */
(function (w, d) {
  "use strict";
  var T = w.Touchline = w.Touchline || {};
  if (T.init) return; // loaded twice: the first copy stays in charge

  var TIMEOUT = 10000, DAY = 864e5, MAX_BACKOFF = 900;
  var LABELS = {
    en: { later: "Later", dismiss: "Dismiss", list: "Messages" },
    ja: { later: "あとで", dismiss: "閉じる", list: "お知らせ" }
  };
  // Only these tags reach the page; these are removed with everything inside them.
  var KEEP = /^(P|BR|B|STRONG|I|EM|U|S|A|UL|OL|LI|SPAN|DIV|H3|H4|H5|BLOCKQUOTE|CODE|PRE|SMALL|SUB|SUP|HR|IMG)$/;
  var DROP = /^(SCRIPT|STYLE|TL-STYLE|IFRAME|FRAME|FRAMESET|OBJECT|EMBED|APPLET|TEMPLATE|NOSCRIPT|SVG|MATH|LINK|META|BASE|FORM|INPUT|TEXTAREA|SELECT|BUTTON|AUDIO|VIDEO|SOURCE|TITLE|HEAD)$/;
  var CSS =
    ":host{all:initial}*{box-sizing:border-box}" +
    ".tl{font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,'Hiragino Sans','Noto Sans JP','Noto Sans CJK JP',sans-serif;color:#111827;-webkit-font-smoothing:antialiased}" +
    ".bn{position:fixed;top:12px;left:0;right:0;z-index:2147483600;display:flex;flex-direction:column;align-items:center;gap:8px;padding:0 12px;pointer-events:none}" +
    ".b{position:relative;pointer-events:auto;width:100%;max-width:760px;display:flex;flex-wrap:wrap;align-items:center;gap:8px 12px;padding:10px 48px 10px 16px;background:#eef2ff;border:1px solid #c7d2fe;border-radius:12px;color:#1e1b4b;box-shadow:0 8px 24px rgba(17,24,39,.14)}" +
    ".b .m{flex:1 1 300px;min-width:0}.b .tt{font-weight:650;margin-right:.4em}.b .bd,.b .bd p{display:inline;margin:0}" +
    ".b .ac{margin:0}" +
    ".cs{position:fixed;right:16px;bottom:16px;z-index:2147483600;width:360px;max-width:calc(100vw - 32px);max-height:calc(100vh - 32px);overflow:auto;margin:0;padding:0;list-style:none;display:flex;flex-direction:column;gap:12px}" +
    ".c{position:relative;background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:16px 16px 14px;box-shadow:0 12px 32px rgba(17,24,39,.16)}" +
    ".c .tt{padding-right:28px}" +
    ".tt{margin:0 0 4px;font-size:15px;font-weight:650;line-height:1.35;color:inherit}" +
    ".bd{font-size:14px;color:#374151;overflow-wrap:anywhere}.b .bd{color:#312e81}" +
    ".bd p{margin:0 0 .5em}.bd>:last-child{margin-bottom:0}.bd ul,.bd ol{margin:0 0 .5em;padding-left:1.25em}.bd img{max-width:100%;height:auto}" +
    ".bd a{color:#4338ca;text-decoration:underline}" +
    ".ac{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin-top:12px}" +
    ".p,.s{display:inline-flex;align-items:center;min-height:36px;padding:6px 14px;border-radius:8px;font:600 14px/1.2 inherit;text-decoration:none;cursor:pointer;border:1px solid transparent}" +
    ".p{background:#4338ca;color:#fff}.p:hover{background:#3730a3}" +
    ".s{background:transparent;color:#374151;border-color:#d1d5db}.s:hover{background:#f3f4f6}" +
    ".x{display:inline-flex;align-items:center;justify-content:center;width:32px;height:32px;padding:0;border:0;border-radius:8px;background:transparent;color:#4b5563;font:400 22px/1 inherit;cursor:pointer}" +
    ".x:hover{background:rgba(17,24,39,.07);color:#111827}.x{position:absolute;top:8px;right:8px}.b .x{top:50%;margin-top:-16px}" +
    "a:focus-visible,button:focus-visible{outline:2px solid #4338ca;outline-offset:2px}.dlg:focus{outline:0}" +
    ".bk{position:fixed;inset:0;z-index:2147483640;display:flex;align-items:center;justify-content:center;padding:16px;background:rgba(17,24,39,.55)}" +
    ".dlg{position:relative;width:100%;max-width:480px;max-height:calc(100vh - 32px);overflow:auto;background:#fff;border-radius:14px;padding:24px;box-shadow:0 24px 64px rgba(17,24,39,.3)}" +
    ".dlg .tt{font-size:19px;margin:0 32px 8px 0}.dlg .bd{font-size:15px}.dlg .ac{justify-content:flex-end;margin-top:20px}" +
    "@keyframes tl-in{from{opacity:0;transform:translateY(8px)}}" +
    ".c,.dlg,.b{animation:tl-in .2s ease-out}" +
    "@media (max-width:480px){.cs{left:8px;right:8px;bottom:8px;width:auto;max-width:none}.bn{top:8px;padding:0 8px}.b .x{top:6px;margin:0}.dlg{padding:20px}}" +
    "@media (prefers-reduced-motion:reduce){.c,.dlg,.b{animation:none}}";

  var warned = 0;
  // One line per page load at most: a broken Touchline must not flood the host's console.
  function warn(what, err) {
    if (warned++) return;
    try { console.warn("Touchline: " + what + (err ? " (" + (err.message || err) + ")" : "") + "; the page works without it."); } catch (e) { /* no console */ }
  }
  function safe(fn) {
    return function (a) { try { return fn(a); } catch (e) { warn("internal error", e); } };
  }
  function on(target, type, fn, capture) { target.addEventListener(type, safe(fn), !!capture); }
  function el(tag, cls, text) {
    var e = d.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function label(n, key) { return (LABELS[String(n.locale || "").slice(0, 2).toLowerCase()] || LABELS.en)[key]; }
  function url(v, mail) {
    try {
      var u = new URL(v, location.href);
      return /^https?:$/.test(u.protocol) || (mail && u.protocol == "mailto:") ? u.href : null;
    } catch (e) { return null; }
  }

  // body_html is sanitised by the server; it is rebuilt here from an inert parse anyway,
  // keeping only known tags and safe attributes, so nothing in it can run on the host page.
  function copy(from, to) {
    for (var c = from.firstChild; c; c = c.nextSibling) {
      if (c.nodeType == 3) { to.appendChild(d.createTextNode(c.data)); continue; }
      if (c.nodeType != 1) continue;
      var tag = c.tagName.toUpperCase(), e, v;
      if (DROP.test(tag)) continue;
      if (!KEEP.test(tag)) { copy(c, to); continue; }
      e = d.createElement(tag);
      if ((v = c.getAttribute("title"))) e.setAttribute("title", v);
      if (tag == "A") {
        if ((v = url(c.getAttribute("href") || "", 1))) e.setAttribute("href", v);
        e.setAttribute("rel", "noopener noreferrer");
      }
      if (tag == "IMG") {
        if (!(v = url(c.getAttribute("src") || ""))) continue;
        e.setAttribute("src", v);
        e.setAttribute("alt", c.getAttribute("alt") || "");
      }
      copy(c, e);
      to.appendChild(e);
    }
  }
  // Even an inert parse makes Chrome report inline handlers and styles to a strict CSP as errors
  // in the host's console: rename them first (nothing below would keep them anyway).
  function defang(h) {
    var was;
    h = h.replace(/<(\/?)style/gi, "<$1tl-style");
    do { was = h; h = h.replace(/(<[^>]*?[\s"'\/])(on[a-z]*|style)(\s*=)/gi, "$1x-$2$3"); } while (h != was);
    return h;
  }
  function body(n) {
    var f = d.createDocumentFragment();
    try {
      copy(new DOMParser().parseFromString(defang(String(n.body_html || "")), "text/html").body, f);
    } catch (e) { // Trusted Types, or a parse too deep: the plain text instead
      f = d.createDocumentFragment();
      f.appendChild(el("p", "", String(n.body_text || "")));
    }
    return f;
  }

  function init(o) {
    try { start(o || {}); } catch (e) { warn("could not start", e); }
  }

  function start(o) {
    var endpoint = String(o.endpoint || "").replace(/\/+$/, ""), app = String(o.app || "");
    if (!endpoint || !app) return warn("init needs endpoint and app");
    if (T._started) return;
    T._started = 1;
    var max = o.maxPerView == null ? 2 : Math.max(0, Math.floor(+o.maxPerView) || 0);
    var base = endpoint + "/api/v1/inapp/" + encodeURIComponent(app) + "/nudges";
    var token = null, data = null, etag = null, due = 0, errors = 0, timer = 0;
    var leading = 0, pending = 0, release = null, chan = null, lock = null;
    var views = {}, gone = {}, count = 0, hadModal = 0;
    var host, root, wrap, bar, list, modal = null;
    var io = w.IntersectionObserver ? new IntersectionObserver(safe(function (es) {
      es.forEach(function (e) {
        var v = e.target._tl, r = e.rootBounds;
        // Half of it visible, or (taller than the screen) half the screen filled by it.
        v.vis = e.isIntersecting && (e.intersectionRatio >= 0.5 || (r && e.intersectionRect.height >= r.height / 2));
        check(v);
      });
    }), { threshold: [0, 0.25, 0.5, 0.75, 1] }) : null;

    function getToken(fresh) {
      if (token && !fresh) return Promise.resolve(token);
      return Promise.resolve().then(function () {
        return typeof o.token == "function" ? o.token() : o.token;
      }).then(function (v) {
        if (typeof v != "string" || !v.trim()) throw Error("no token");
        return (token = v.trim());
      });
    }

    // Every call: a timeout, the token, one fresh token on 401. Resolves {s, j, e, r}; rejects on network trouble.
    function call(path, payload, again) {
      return getToken(again).then(function (tk) {
        var ctl = new AbortController(), t = setTimeout(function () { ctl.abort(); }, TIMEOUT);
        var h = { Authorization: "Bearer " + tk };
        if (payload) h["Content-Type"] = "application/json";
        else if (etag) h["If-None-Match"] = etag;
        function end(v) { clearTimeout(t); return v; }
        return fetch(base + path, {
          method: payload ? "POST" : "GET", headers: h, body: payload, signal: ctl.signal,
          mode: "cors", credentials: "omit", cache: "no-store"
        }).then(function (res) {
          if (res.status == 401 && !again && typeof o.token == "function") { end(); return call(path, payload, 1); }
          if (res.status == 304) return end({ s: 304 });
          return res.text().then(function (x) {
            var j = null;
            try { j = JSON.parse(x); } catch (e) { /* garbage: j stays null */ }
            return end({ s: res.status, j: j, e: res.headers.get("ETag"), r: +res.headers.get("Retry-After") });
          });
        }).catch(function (e) { end(); throw e; });
      });
    }

    function send(id, type, until) {
      var p = { type: type };
      if (until) p.until = until;
      return call("/" + encodeURIComponent(id) + "/events", JSON.stringify(p)).then(function (a) {
        if (a.s >= 300) throw Error("HTTP " + a.s + " recording " + type);
      }).catch(function (e) { warn("could not record " + type, e); });
    }

    // -- polling: only while visible, one tab for all tabs of this user --------------
    function plan(sec) {
      clearTimeout(timer);
      due = Date.now() + sec * 1000;
      timer = leading && !d.hidden ? setTimeout(safe(poll), sec * 1000) : 0;
    }
    function poll() {
      call("").then(function (a) {
        if (a.s == 304 && data) return data;
        if (a.s == 429) throw { retry: a.r, message: "rate limited" };
        if (a.s != 200 || !a.j || !Array.isArray(a.j.nudges)) throw Error(a.j ? "HTTP " + a.s : "unreadable answer");
        data = a.j;
        etag = a.e;
        return data;
      }).then(function (j) {
        errors = 0;
        var next = +j.poll_after;
        plan(next >= 5 ? Math.min(next, 3600) : 60);
        share({ t: "d", j: j, e: etag, n: due });
        show(j.nudges);
      }).catch(function (e) {
        errors++;
        warn("could not load nudges", e);
        // Exponential back-off with jitter, capped; Retry-After when the server gives one.
        plan(e && e.retry > 0 ? e.retry : Math.min(MAX_BACKOFF, 15 * Math.pow(2, errors - 1)) * (0.8 + Math.random() * 0.4));
      });
    }
    function lead() {
      if (leading || pending || d.hidden) return;
      var go = function () { leading = 1; plan(Math.max(0, (due - Date.now()) / 1000)); };
      if (!lock) return go();
      pending = 1;
      // The visible tab holding the lock polls; the others get its answers over the channel.
      navigator.locks.request(lock, safe(function () {
        pending = 0;
        if (d.hidden) return; // hidden while queued: leave it to a visible tab
        go();
        return new Promise(function (r) { release = r; });
      })).catch(function () { pending = 0; lock = null; go(); });
    }
    function follow() {
      leading = 0;
      clearTimeout(timer);
      if (release) { release(); release = null; }
    }
    function share(m) { try { if (chan) chan.postMessage(m); } catch (e) { /* closed */ } }
    function heard(ev) {
      var m = ev.data || {};
      if (m.t == "d" && !leading && m.j && Array.isArray(m.j.nudges)) {
        data = m.j; etag = m.e; due = +m.n || 0;
        show(data.nudges);
      } else if (m.t == "h" && leading && data) share({ t: "d", j: data, e: etag, n: due });
      else if (m.t == "g") drop(m.id, 1);
    }
    function who(tk) { // the tabs of one user share answers: the token's account and contact
      try {
        var c = JSON.parse(atob(tk.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
        return c.account + "\n" + c.sub;
      } catch (e) { return tk; }
    }
    function begin() {
      getToken().then(function (tk) {
        var key = "touchline\n" + endpoint + "\n" + app + "\n" + who(tk);
        lock = navigator.locks && navigator.locks.request ? key : null;
        if (w.BroadcastChannel) {
          chan = new BroadcastChannel(key);
          chan.onmessage = safe(heard);
          share({ t: "h" });
        }
        on(d, "visibilitychange", function () {
          if (d.hidden) follow(); else lead();
          for (var k in views) check(views[k]);
        });
        lead();
      }).catch(function (e) {
        errors++;
        warn("no token", e);
        setTimeout(safe(begin), Math.min(MAX_BACKOFF, 15 * Math.pow(2, errors - 1)) * 1000);
      });
    }

    // -- showing -------------------------------------------------------------------
    function mount() {
      if (root) return;
      host = d.createElement("touchline-nudges");
      root = host.attachShadow({ mode: "open" }); // open: the host's own tools and tests can see in; its CSS still cannot
      try { // a constructed sheet needs no style-src exception under a strict CSP
        if (!("adoptedStyleSheets" in root)) throw 0;
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } catch (e) {
        var st = el("style", "", CSS);
        if (o.nonce) st.setAttribute("nonce", o.nonce);
        root.appendChild(st);
      }
      wrap = root.appendChild(el("div", "tl"));
      bar = wrap.appendChild(el("div", "bn"));
      list = wrap.appendChild(el("ul", "cs"));
      (d.body || d.documentElement).appendChild(host);
    }
    function show(items) {
      var ok = items.filter(function (n) {
        return n && (typeof n.id == "number" || typeof n.id == "string") && typeof n.title == "string";
      }).sort(function (a, b) { return (+b.priority || 0) - (+a.priority || 0); }); // stable: the server's order within a priority
      var listed = {};
      ok.forEach(function (n) { listed[n.id] = 1; });
      for (var k in views) if (!listed[k]) drop(k); // dismissed in another tab, expired, ...
      ok.forEach(function (n) {
        if (views[n.id] || gone[n.id] || count >= max || (n.kind == "modal" && hadModal)) return;
        count++; // per page view: a dismissed nudge still counts
        render(n);
      });
    }
    function render(n) {
      mount();
      var kind = n.kind == "banner" || n.kind == "modal" ? n.kind : "card";
      var id = "tl" + String(n.id).replace(/\W/g, "_");
      var v = { n: n, kind: kind, vis: 0, t: 0 };
      var box = el(kind == "card" ? "li" : "div", kind == "banner" ? "b" : kind == "modal" ? "dlg" : "c");
      var inner = kind == "card" ? box.appendChild(el("article")) : box;
      var text = kind == "banner" ? inner.appendChild(el("div", "m")) : inner;
      var title = text.appendChild(el(kind == "banner" ? "strong" : "h2", "tt", n.title));
      var acts = el("div", "ac"), x = el("button", "x", "\u00d7"), later = el("button", "s", label(n, "later"));
      var href = n.cta && typeof n.cta.label == "string" && url(n.cta.url);
      title.id = id;
      (kind == "banner" ? text.appendChild(el("span", "bd")) : text.appendChild(el("div", "bd"))).appendChild(body(n));
      if (href) {
        var a = acts.appendChild(el("a", "p", n.cta.label));
        a.href = href;
        on(a, "click", function (ev) {
          var p = send(n.id, "clicked"), went = 0;
          if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button) return; // a new tab: the browser opens it
          ev.preventDefault();
          var go = function () { if (!went++) location.assign(href); };
          p.then(go);
          setTimeout(go, 1500);
        });
      }
      acts.appendChild(later);
      later.type = x.type = "button";
      x.setAttribute("aria-label", label(n, "dismiss"));
      x.title = label(n, "dismiss");
      on(x, "click", function () { act(v, "dismissed"); });
      on(later, "click", function () { act(v, "snoozed", new Date(Date.now() + DAY).toISOString()); });
      inner.appendChild(acts);
      if (kind == "banner") {
        box.appendChild(x);
        box.setAttribute("role", "region");
        box.setAttribute("aria-labelledby", id);
        bar.appendChild(box);
      } else inner.insertBefore(x, inner.firstChild);
      if (kind == "card") {
        list.setAttribute("aria-label", label(n, "list"));
        inner.setAttribute("aria-labelledby", id);
        list.appendChild(box);
      }
      v.el = box;
      box._tl = v;
      views[n.id] = v;
      if (kind == "modal") openModal(v, box, id);
      if (!n.seen) { if (io) io.observe(box); else { v.vis = 1; check(v); } }
    }
    // "seen" only once it has been on screen, half of it at least, for a second, in a visible tab.
    function check(v) {
      var ok = v.vis && !d.hidden && !v.done && v.el.isConnected;
      if (ok && !v.t) {
        v.t = setTimeout(safe(function () {
          v.t = 0;
          if (v.vis && !d.hidden && !v.done && v.el.isConnected) {
            v.done = 1;
            if (io) io.unobserve(v.el);
            send(v.n.id, "seen");
          }
        }), 1000);
      } else if (!ok && v.t) { clearTimeout(v.t); v.t = 0; }
    }
    function act(v, type, until) {
      drop(v.n.id);
      send(v.n.id, type, until);
      share({ t: "g", id: v.n.id });
    }
    function drop(id, quiet) {
      var v = views[id];
      gone[id] = 1;
      if (!v) return;
      delete views[id];
      clearTimeout(v.t);
      if (io) io.unobserve(v.el);
      if (modal && modal.v == v) closeModal(quiet);
      else v.el.remove();
    }

    // -- the modal: labelled dialog, focus kept inside, Esc closes, focus goes back --------
    function openModal(v, box, id) {
      var back = el("div", "bk"), prev = d.activeElement;
      hadModal = 1;
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-labelledby", id);
      box.tabIndex = -1;
      back.appendChild(box);
      wrap.appendChild(back);
      modal = { v: v, back: back, prev: prev };
      on(box, "keydown", function (ev) {
        if (ev.key == "Escape" || ev.key == "Esc") { ev.preventDefault(); act(v, "dismissed"); return; }
        if (ev.key != "Tab") return;
        var f = box.querySelectorAll("a[href],button"), first = f[0], last = f[f.length - 1], cur = root.activeElement;
        if (ev.shiftKey ? cur == first || cur == box : cur == last) { ev.preventDefault(); (ev.shiftKey ? last : first).focus(); }
      });
      on(d, "focusin", guard, true);
      box.focus();
    }
    function guard(ev) { // focus left the dialog (a click on the page behind, a screen reader jump): bring it back
      if (modal && ev.target !== host) modal.v.el.focus();
    }
    function closeModal() {
      var m = modal;
      modal = null;
      m.back.remove();
      try { if (m.prev && m.prev.focus) m.prev.focus(); } catch (e) { /* gone */ }
    }

    begin();
  }

  T.init = init;
})(window, document);
