// daybook's page script: optional. Without it every view works through
// links, access keys and forms. With it: keys (←/k previous, →/j next,
// t today, / search), a live refresh of today at most every 30 s, and
// search as you type through GET /v1/search. It builds every node with
// createElement/textContent: nothing from the server is parsed as HTML
// except whole pages of this same origin for the refresh.
"use strict";
(function () {
  function follow(sel) {
    var a = document.querySelector(sel);
    if (a && a.href) { window.location.href = a.href; }
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var t = ev.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.isContentEditable);
    if (typing) {
      if (ev.key === "Escape") { t.blur(); }
      return;
    }
    if (ev.key === "ArrowLeft" || ev.key === "k") { follow("a[rel=prev]"); }
    else if (ev.key === "ArrowRight" || ev.key === "j") { follow("a[rel=next]"); }
    else if (ev.key === "t") { window.location.href = "/"; }
    else if (ev.key === "/") {
      var q = document.getElementById("q");
      if (q) { ev.preventDefault(); q.focus(); q.select(); }
    }
  });

  // Live refresh of today: the timeline and the sections under it are
  // replaced by those of a fresh copy of this page, every 30 s while the
  // tab is visible.
  if (document.body.dataset.live === "1") {
    window.setInterval(function () {
      if (document.hidden) { return; }
      fetch(window.location.pathname, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text) { return; }
          var fresh = new DOMParser().parseFromString(text, "text/html");
          var now = fresh.getElementById("main");
          var old = document.getElementById("main");
          if (now && old) { old.replaceWith(document.importNode(now, true)); }
        })
        .catch(function () { /* the daemon may be restarting: try again next time */ });
    }, 30000);
  }

  // Search as you type, through the API; the form still works without it
  // (GET /search renders the same results server-side).
  var form = document.getElementById("search");
  var input = document.getElementById("q");
  var out = document.getElementById("search-results");
  if (!form || !input || !out) { return; }
  var timer = null;
  var asked = 0;

  function dayOf(r) {
    return typeof r.time === "string" ? r.time.slice(0, 10) : null;
  }

  function show(results, query) {
    out.textContent = "";
    var p = document.createElement("p");
    p.textContent = results.length === 0 ? "No results for “" + query + "”." : results.length + " result(s) for “" + query + "”:";
    out.appendChild(p);
    if (results.length === 0) { return; }
    var ol = document.createElement("ol");
    results.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "result";
      var day = dayOf(r);
      var a = document.createElement("a");
      a.textContent = (r.time || "") + " · " + (r.app || r.kind || "") + (r.title ? " — " + r.title : "");
      if (day && r.session_id) {
        a.href = "/day/" + day + "/session/" + encodeURIComponent(r.session_id);
      } else if (day) {
        a.href = "/day/" + day;
      }
      li.appendChild(a);
      if (day) {
        var d = document.createElement("a");
        d.href = "/day/" + day;
        d.textContent = " (day)";
        li.appendChild(d);
      }
      if (r.snippet) {
        // The API marks matches between "**": they become <mark>s, every
        // part a text node.
        var s = document.createElement("span");
        s.className = "snippet";
        r.snippet.split("**").forEach(function (part, i) {
          if (i % 2 === 1) {
            var m = document.createElement("mark");
            m.textContent = part;
            s.appendChild(m);
          } else {
            s.appendChild(document.createTextNode(part));
          }
        });
        li.appendChild(s);
      }
      ol.appendChild(li);
    });
    out.appendChild(ol);
  }

  function run() {
    var query = input.value.trim();
    if (query === "") { out.textContent = ""; return; }
    var mine = ++asked;
    fetch("/v1/search?q=" + encodeURIComponent(query) + "&limit=20", { credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) { return { ok: r.ok, body: body }; });
      })
      .then(function (reply) {
        if (mine !== asked) { return; }
        if (!reply.ok) {
          out.textContent = "Search: " + (reply.body && reply.body.error ? reply.body.error : "failed");
          return;
        }
        var results = Array.isArray(reply.body) ? reply.body : (reply.body.results || []);
        show(results, query);
      })
      .catch(function () { if (mine === asked) { out.textContent = "Search failed: is daybook running?"; } });
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(run, 250);
  });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    window.clearTimeout(timer);
    run();
  });
}());
