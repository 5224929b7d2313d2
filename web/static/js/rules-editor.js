// The rules editor: turns the page's plain <textarea> form into CodeMirror (YAML, line
// numbers, lint gutter), checks the text on the server ~500 ms after typing stops (the
// same validator as `touchline rules check`) and shows each problem at its line, and
// loads the plan into the page. Without this script the form works as it is.
(function () {
  "use strict";

  var form = document.getElementById("rule-form");
  var textarea = form && form.querySelector("textarea[name=text]");
  if (!form || !textarea || !window.CM6) return;
  var CM = window.CM6;
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var problemsBox = document.getElementById("problems");
  var planBox = document.getElementById("plan-result");
  var say = form.dataset; // the page's language: the template puts translated strings here

  function post(url, extraHeaders) {
    var body = new FormData(form);
    body.set("text", textarea.value);
    var headers = { "X-CSRFToken": csrf };
    for (var k in extraHeaders || {}) headers[k] = extraHeaders[k];
    return fetch(url, { method: "POST", body: body, headers: headers, credentials: "same-origin" });
  }

  function problemText(p) {
    return p.message + (p.suggestion ? " " + say.didYouMean.replace("{s}", p.suggestion) : "");
  }

  // The list under the editor mirrors the markers, for screen readers and small screens.
  function showList(problems) {
    problemsBox.textContent = "";
    if (!problems.length) return;
    var list = document.createElement("ul");
    list.className = "problem-list";
    list.id = "problem-list";
    problems.forEach(function (p) {
      var item = document.createElement("li");
      item.dataset.line = p.line;
      item.dataset.column = p.column;
      var where = document.createElement("span");
      where.className = "where";
      where.textContent = say.where.replace("{line}", p.line).replace("{column}", p.column);
      item.appendChild(where);
      item.appendChild(document.createTextNode(" " + (p.path ? p.path + ": " : "") + problemText(p)));
      list.appendChild(item);
    });
    problemsBox.appendChild(list);
  }

  function diagnostics(doc, problems) {
    return problems.map(function (p) {
      var line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
      var from = Math.min(line.from + Math.max(p.column, 1) - 1, line.to);
      var to = from < line.to ? line.to : from;
      return { from: from, to: to, severity: "error", message: (p.path ? p.path + ": " : "") + problemText(p) };
    });
  }

  function check(view) {
    return post(form.dataset.checkUrl)
      .then(function (response) {
        if (!response.ok) throw new Error("check answered " + response.status);
        return response.json();
      })
      .then(function (answer) {
        showList(answer.problems);
        form.classList.toggle("has-problems", answer.problems.length > 0);
        return diagnostics(view.state.doc, answer.problems);
      })
      .catch(function () { return []; }); // offline or signed out: the save still checks
  }

  // The editor lives in a shadow root: CodeMirror then styles itself with constructed style
  // sheets, which the page's CSP (style-src 'self') allows, where a <style> element is refused.
  var host = document.createElement("div");
  host.className = "rule-editor";
  host.id = "rule-editor";
  textarea.parentNode.insertBefore(host, textarea.nextSibling);
  var shadow = host.attachShadow({ mode: "open" });

  // Completion from the rule language's JSON Schema: top-level keys at the start of a line,
  // condition keys (fields, events' metrics, all/any/not) inside `when:`.
  var schema = null;
  fetch(form.dataset.schemaUrl, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (answer) { schema = answer; })
    .catch(function () {});

  function options(props) {
    return Object.keys(props).map(function (key) {
      return { label: key, type: "property", info: props[key].description || undefined, apply: key + ": " };
    });
  }

  function inWhen(state, lineNumber) {
    for (var n = lineNumber - 1; n >= 1; n--) {
      var text = state.doc.line(n).text;
      if (/^[A-Za-z_]/.test(text)) return /^when\s*:/.test(text);
    }
    return false;
  }

  function complete(context) {
    if (!schema) return null;
    var word = context.matchBefore(/[\w.]*/);
    var line = context.state.doc.lineAt(context.pos);
    var before = line.text.slice(0, word.from - line.from);
    if (word.from === word.to && !context.explicit) return null;
    if (before === "") return { from: word.from, options: options(schema.properties) };
    if (/^\s+(- )?$/.test(before) && inWhen(context.state, line.number)) {
      return { from: word.from, options: options(schema.$defs.condition.properties) };
    }
    return null;
  }

  var view = new CM.EditorView({
    root: shadow,
    parent: shadow,
    doc: textarea.value,
    extensions: [
      CM.lineNumbers(), CM.highlightActiveLineGutter(), CM.highlightSpecialChars(), CM.history(),
      CM.foldGutter(), CM.drawSelection(), CM.indentOnInput(), CM.bracketMatching(),
      CM.highlightActiveLine(), CM.highlightSelectionMatches(), CM.indentUnit.of("  "),
      CM.syntaxHighlighting(CM.defaultHighlightStyle, { fallback: true }),
      CM.yaml(), CM.lintGutter(), CM.linter(check, { delay: 500 }),
      CM.autocompletion({ override: [complete] }),
      CM.keymap.of([].concat(CM.completionKeymap, CM.defaultKeymap, CM.historyKeymap, CM.searchKeymap, CM.foldKeymap,
                             CM.lintKeymap, [CM.indentWithTab])),
      CM.EditorView.theme({
        "&": { height: "100%", fontSize: "14px", backgroundColor: "#fff" },
        "&.cm-focused": { outline: "2px solid #2f6fde", outlineOffset: "1px" },
        ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace", lineHeight: "1.5" },
        ".cm-gutters": { backgroundColor: "#f6f7f9", borderRight: "1px solid #e3e6ea", color: "#7a828d" },
      }),
      CM.EditorView.contentAttributes.of({ "aria-label": say.editorLabel, "aria-describedby": "editor-hint problems" }),
      CM.EditorView.updateListener.of(function (update) {
        if (update.docChanged) textarea.value = update.state.doc.toString();
      }),
    ],
  });
  textarea.hidden = true;

  // The backtest runs as a job: poll its status until it is done, failed or cancelled.
  function watchBacktest() {
    var box = document.getElementById("backtest");
    if (!box || (box.dataset.state !== "queued" && box.dataset.state !== "running")) return;
    var cancel = document.getElementById("backtest-cancel");
    cancel.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(cancel.action, { method: "POST", body: new FormData(cancel), headers: { "X-CSRFToken": csrf }, credentials: "same-origin" });
      cancel.querySelector("button").disabled = true;
    });
    setTimeout(function () {
      fetch(box.dataset.statusUrl, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (!document.body.contains(box)) return; // a newer plan replaced it
          box.outerHTML = html;
          watchBacktest();
        })
        .catch(function () { setTimeout(watchBacktest, 2000); });
    }, 700);
  }
  watchBacktest();

  var planButton = document.getElementById("plan-button");
  planButton.addEventListener("click", function (event) {
    event.preventDefault();
    planButton.disabled = true;
    planBox.setAttribute("aria-busy", "true");
    planBox.textContent = say.planning;
    post(form.dataset.planUrl, { "HX-Request": "true" })
      .then(function (response) { return response.text(); })
      .then(function (html) { planBox.innerHTML = html; watchBacktest(); }) // our own server's fragment
      .catch(function () { planBox.textContent = say.planFailed; })
      .then(function () { planButton.disabled = false; planBox.removeAttribute("aria-busy"); });
  });
})();
