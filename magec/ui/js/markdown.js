// Tiny, safe Markdown subset for chat answers (rendered with v-html, so the text is an agent's, not
// ours): everything is HTML-escaped first, then fenced code, inline code, **bold**, *italic*,
// headings, lists and links become tags. Links are http(s) or mailto only; each generated tag is
// set aside behind a placeholder the moment it is made, so no later pattern ever scans inside a tag
// (a URL pattern matching across a generated href's closing quote injected attributes).
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unesc = (s) => s.replace(/&quot;/g, '"').replace(/&gt;/g, '>').replace(/&lt;/g, '<').replace(/&amp;/g, '&');
const attr = (s) => esc(s).replace(/'/g, '&#39;');

const SAFE_URL = /^(?:https?:\/\/|mailto:)/i;
// one pass over both forms: [label](url) and a bare http(s) URL after a start, space or '('. A label
// holds no '[': with one, every '[' of a line of them began a scan to the line's end (quadratic: an
// agent echoing 64 KB of "[a" froze the admin's tab for seconds)
const LINKS = /\[([^[\]\n]+)\]\(((?:https?:\/\/|mailto:)[^\s)]+)\)|(^|[\s(])(https?:\/\/[^\s<)]+)/gi;
const CODE = '\u0000';
const TAG = '\u0001';

const emphasis = (s) => s.replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>')
  .replace(/(^|[^*])\*([^*\n]+)\*(?!\*)/g, '$1<em>$2</em>');

// `url` and `label` are escaped text; the href is the URL itself, escaped for a quoted attribute
function anchor(url, label) {
  const href = unesc(url);
  if (!SAFE_URL.test(href)) return label;
  return `<a href="${attr(href)}" target="_blank" rel="noopener noreferrer">${label}</a>`;
}

function inline(s) {
  const codes = [];
  const tags = [];
  const keep = (html) => { tags.push(html); return `${TAG}${tags.length - 1}${TAG}`; };
  s = s.replace(/`([^`\n]+)`/g, (_, c) => { codes.push(c); return `${CODE}${codes.length - 1}${CODE}`; });
  s = s.replace(LINKS, (_, label, url, before, bare) => (label !== undefined
    ? keep(anchor(url, emphasis(label)))
    : before + keep(anchor(bare, bare))));
  s = emphasis(s);
  return s.replace(/\u0001(\d+)\u0001/g, (_, i) => tags[Number(i)])
    .replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

export function renderMarkdown(text) {
  // the placeholder characters cannot come from the text itself
  const parts = esc((text || '').replace(/[\u0000\u0001]/g, '')).split(/```/);
  let html = '';
  parts.forEach((part, i) => {
    if (i % 2 === 1) { // fenced code (first line may be a language tag)
      html += `<pre><code>${part.replace(/^[\w+-]*\n/, '')}</code></pre>`;
      return;
    }
    let list = null;
    const close = () => { if (list) { html += `</${list}>`; list = null; } };
    for (const line of part.split('\n')) {
      const ul = /^\s*[-*] (.*)$/.exec(line);
      const ol = /^\s*\d+[.)] (.*)$/.exec(line);
      const h = /^(#{1,4}) (.*)$/.exec(line);
      if (ul || ol) {
        const tag = ul ? 'ul' : 'ol';
        if (list !== tag) { close(); html += `<${tag}>`; list = tag; }
        html += `<li>${inline((ul || ol)[1])}</li>`;
      } else {
        close();
        if (h) html += `<div class="md-h">${inline(h[2])}</div>`;
        else html += `${inline(line)}\n`;
      }
    }
    close();
  });
  return html.replace(/\n+$/, '');
}
