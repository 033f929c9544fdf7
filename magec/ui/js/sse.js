// Minimal Server-Sent Events reader over fetch's ReadableStream (POST bodies are not possible with EventSource).
// for await (const data of readSSE(response)) { ... } yields parsed JSON (or raw strings) of each event.
export async function* readSSE(res) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const parse = (block) => {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!data) return undefined;
    try { return JSON.parse(data); } catch { return data; }
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let m;
    while ((m = /\r?\n\r?\n/.exec(buf))) {
      const block = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      const ev = parse(block);
      if (ev !== undefined) yield ev;
    }
  }
  buf += dec.decode();
  const last = parse(buf);
  if (last !== undefined) yield last;
}

// Folds one ADK event into a chat turn: {items: [{kind: 'text'|'call', author, ...}], error}; a text
// item of an `interrupted` event (an answer cut off by a hang-up or Stop) is marked `interrupted`.
export function applyEvent(turn, ev) {
  if (typeof ev !== 'object' || !ev) return;
  if (ev.errorCode || ev.errorMessage || ev.error) {
    turn.error = ev.errorMessage || ev.error || ev.errorCode;
  }
  const author = ev.author || 'agent';
  const parts = ev.content?.parts || [];
  const text = parts.filter((p) => typeof p.text === 'string' && !p.thought).map((p) => p.text).join('');
  const lastOf = () => { for (let i = turn.items.length - 1; i >= 0; i--) if (turn.items[i].author === author) return turn.items[i]; return null; };
  if (text) {
    const last = lastOf();
    const open = last && last.kind === 'text' && last.open ? last : null;
    if (ev.partial) {
      if (open) open.text += text; else turn.items.push({ kind: 'text', author, text, open: true });
    } else if (open) { open.text = text; open.open = false; } else turn.items.push({ kind: 'text', author, text, open: false });
    // ADK's `interrupted`: the words said before the client hung up (kept by the server): not a whole answer
    if (ev.interrupted) lastOf().interrupted = true;
  }
  for (const p of parts) {
    if (p.functionCall) {
      turn.items.forEach((it) => { if (it.author === author && it.kind === 'text') it.open = false; });
      turn.items.push({ kind: 'call', author, name: p.functionCall.name, args: p.functionCall.args, response: undefined });
    } else if (p.functionResponse) {
      const r = p.functionResponse;
      const call = [...turn.items].reverse().find((it) => it.kind === 'call' && it.name === r.name && it.response === undefined);
      if (call) call.response = r.response; else turn.items.push({ kind: 'call', author, name: r.name, args: undefined, response: r.response });
    }
  }
  // Parallel branches interleave: a finished turn only closes its own author's text.
  if (ev.turnComplete) turn.items.forEach((it) => { if (it.kind === 'text' && it.author === author) it.open = false; });
}
