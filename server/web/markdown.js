// A small Markdown renderer for model replies: fenced code blocks, inline code, headings,
// lists, block quotes, rules, bold/italic/strike and links. Everything is HTML-escaped
// first, so text from the model can never inject markup; links keep only http(s) and
// mailto URLs. Unterminated constructs (a reply still streaming) render sensibly.
(function (global) {
  'use strict';

  function escapeHtml(text) {
    return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  // Inline markup of one escaped line. Code spans are cut out first so that their content
  // is left alone, then put back at the end.
  function inline(escaped) {
    const spans = [];
    let text = escaped.replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, function (_, ticks, code) {
      spans.push('<code>' + code.trim() + '</code>');
      return '\u0000' + (spans.length - 1) + '\u0000';
    });
    text = text.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, function (whole, label, url) {
      const plain = url.replace(/&amp;/g, '&');
      if (!/^(https?:|mailto:)/i.test(plain)) return whole;
      return '<a href="' + url + '" target="_blank" rel="noopener noreferrer">' + label + '</a>';
    });
    text = text
      .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
      .replace(/__(?=\S)([\s\S]*?\S)__/g, '<strong>$1</strong>')
      .replace(/(^|[^*\w])\*(?=\S)([^*]*?\S)\*(?!\w)/g, '$1<em>$2</em>')
      .replace(/(^|[^_\w])_(?=\S)([^_]*?\S)_(?!\w)/g, '$1<em>$2</em>')
      .replace(/~~(?=\S)([\s\S]*?\S)~~/g, '<del>$1</del>');
    return text.replace(/\u0000(\d+)\u0000/g, function (_, i) { return spans[Number(i)]; });
  }

  function codeBlock(lang, lines) {
    const cls = lang ? ' class="language-' + escapeHtml(lang) + '"' : '';
    const label = lang ? '<span class="code-lang">' + escapeHtml(lang) + '</span>' : '<span></span>';
    return '<div class="code-block"><div class="code-head">' + label +
      '<button type="button" class="copy-code">Copy</button></div><pre><code' + cls + '>' +
      escapeHtml(lines.join('\n')) + '</code></pre></div>';
  }

  function render(source) {
    const lines = String(source).replace(/\r\n?/g, '\n').split('\n');
    const out = [];
    let paragraph = [];
    let list = null; // {tag, items}
    let quote = [];

    function flushParagraph() {
      if (paragraph.length) out.push('<p>' + paragraph.map(inline).join('<br>') + '</p>');
      paragraph = [];
    }
    function flushList() {
      if (list) {
        out.push('<' + list.tag + (list.start > 1 ? ' start="' + list.start + '"' : '') + '>' +
          list.items.map(function (item) { return '<li>' + inline(item) + '</li>'; }).join('') +
          '</' + list.tag + '>');
      }
      list = null;
    }
    function flushQuote() {
      if (quote.length) out.push('<blockquote>' + render(quote.join('\n')) + '</blockquote>');
      quote = [];
    }
    function flushAll() { flushParagraph(); flushList(); flushQuote(); }

    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = /^\s*(```+|~~~+)\s*([\w+#.-]*)\s*$/.exec(line);
      if (fence) {
        flushAll();
        const code = [];
        let j = i + 1;
        const close = new RegExp('^\\s*' + fence[1][0] + '{' + fence[1].length + ',}\\s*$');
        while (j < lines.length && !close.test(lines[j])) code.push(lines[j++]);
        out.push(codeBlock(fence[2], code));
        i = j; // past the closing fence (or the end while it streams)
        continue;
      }
      const quoted = /^\s*>\s?(.*)$/.exec(line);
      if (quoted) {
        flushParagraph(); flushList();
        quote.push(quoted[1]);
        continue;
      }
      flushQuote();
      if (/^\s*$/.test(line)) { flushParagraph(); flushList(); continue; }
      const heading = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
      if (heading) {
        flushAll();
        const level = heading[1].length;
        out.push('<h' + level + '>' + inline(escapeHtml(heading[2])) + '</h' + level + '>');
        continue;
      }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flushAll(); out.push('<hr>'); continue; }
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*(\d{1,9})[.)]\s+(.*)$/.exec(line);
      if (bullet || numbered) {
        flushParagraph();
        const tag = bullet ? 'ul' : 'ol';
        if (!list || list.tag !== tag) {
          flushList();
          list = { tag: tag, items: [], start: numbered ? Number(numbered[1]) : 1 };
        }
        list.items.push(escapeHtml(bullet ? bullet[1] : numbered[2]));
        continue;
      }
      if (list && /^\s{2,}\S/.test(line)) { // a continuation of the last item
        list.items[list.items.length - 1] += ' ' + escapeHtml(line.trim());
        continue;
      }
      flushList();
      paragraph.push(escapeHtml(line));
    }
    flushAll();
    return out.join('\n');
  }

  global.graftMarkdown = { render: render, escapeHtml: escapeHtml };
  if (typeof module !== 'undefined' && module.exports) module.exports = global.graftMarkdown;
})(typeof window !== 'undefined' ? window : globalThis);
