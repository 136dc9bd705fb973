// The article page: select a word or a short phrase of the post, and links to its
// concordance and its trend appear beside the text (plugins/news_concordance.py
// serves this file; the page's Content-Security-Policy allows scripts from the site only).
(function () {
  "use strict";
  var body = document.querySelector(".news-article .body");
  var holder = document.getElementById("news-select-word");
  if (!body || !holder) { return; }
  var concordance = holder.getAttribute("data-concordance");
  var trends = holder.getAttribute("data-trends");
  var MAX_WORDS = 5;

  function selectedText() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) { return ""; }
    var range = selection.getRangeAt(0);
    if (!body.contains(range.commonAncestorContainer)) { return ""; }
    // Word marks (U+200B) between Thai or Chinese words are for the index, not the reader.
    return selection.toString().replace(/\u200b/g, "").replace(/[\s"]+/g, " ").trim();
  }

  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    return a;
  }

  function show() {
    var text = selectedText();
    var words = text ? text.split(" ") : [];
    holder.textContent = "";
    if (!text || words.length > MAX_WORDS || !/[\p{L}\p{N}]/u.test(text)) {
      holder.hidden = true;
      return;
    }
    var q = words.length > 1 ? '"' + text + '"' : text;
    holder.appendChild(document.createTextNode("“" + text + "”: "));
    holder.appendChild(link(concordance + "?q=" + encodeURIComponent(q), "in context"));
    holder.appendChild(document.createTextNode(" · "));
    holder.appendChild(link(trends + "?q=" + encodeURIComponent(q), "over time"));
    holder.hidden = false;
  }

  document.addEventListener("selectionchange", show);
})();
