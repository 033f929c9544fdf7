// Tiny, safe Markdown subset for chat answers: everything is HTML-escaped first, then
// fenced code, inline code, **bold**, *italic*, headings, lists and http(s) links become tags.
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function inline(s) {
  const codes = [];
  s = s.replace(/`([^`\n]+)`/g, (_, c) => { codes.push(c); return `\u0000${codes.length - 1}\u0000`; });
  s = s.replace(/\*\*([^*\n]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*\n]+)\*(?!\*)/g, '$1<em>$2</em>')
    .replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
    .replace(/(^|[\s(])(https?:\/\/[^\s<)]+)/g, '$1<a href="$2" target="_blank" rel="noopener noreferrer">$2</a>');
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

export function renderMarkdown(text) {
  const parts = esc(text || '').split(/```/);
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
