// The user API as the Voice UI uses it: pairing, client info, sessions, the streamed run API and voice.
// Every call carries the paired client token (Authorization: Bearer); errors become ApiError with
// the server's own words ({"error": ...}) or a plain "cannot reach the server".

const TOKEN_KEY = 'magec.voice.token';
const USER_KEY = 'magec.voice.user';

export class ApiError extends Error {
  constructor(message, status = 0) { super(message); this.status = status; }
}

export const auth = {
  get token() { return localStorage.getItem(TOKEN_KEY) || ''; },
  set(token) { localStorage.setItem(TOKEN_KEY, token); },
  clear() { localStorage.removeItem(TOKEN_KEY); },
};

// One stable user id per device: conversations belong to "<client>:<this id>" on the server.
export function deviceUser() {
  let id = localStorage.getItem(USER_KEY);
  if (!id) {
    id = 'voice-' + crypto.getRandomValues(new Uint32Array(2)).join('');
    localStorage.setItem(USER_KEY, id);
  }
  return id;
}

let onNetwork = () => {};
export function watchNetwork(fn) { onNetwork = fn; }

export async function call(method, path, { body, form, signal, token } = {}) {
  const headers = {};
  const tok = token ?? auth.token;
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    onNetwork(false);
    throw new ApiError('Cannot reach the server. Check the connection.');
  }
  onNetwork(true);
  if (!res.ok) {
    let message = `The server answered ${res.status}.`;
    try { const j = await res.json(); if (j && j.error) message = typeof j.error === 'string' ? j.error : j.error.message || message; } catch { /* not JSON */ }
    throw new ApiError(message, res.status);
  }
  return res;
}

export async function clientInfo(token) {
  return (await call('GET', '/api/v1/client/info', { token })).json();
}

const A = '/api/v1/agent';
const enc = encodeURIComponent;
const sessionsPath = (app, user) => `${A}/apps/${enc(app)}/users/${enc(user)}/sessions`;

// A conversation's name lives where ADK's web UI keeps a session's (the one un-prefixed state key a
// client may write): both UIs then show the same name.
export const NAME_KEY = '__session_metadata__';
const named = (name) => ({ [NAME_KEY]: { displayName: name } });

export const sessions = {
  async list(app, user) { return (await call('GET', sessionsPath(app, user))).json(); },
  async get(app, user, id) { return (await call('GET', `${sessionsPath(app, user)}/${enc(id)}`)).json(); },
  async create(app, user, name) {
    return (await call('POST', sessionsPath(app, user), { body: name ? { state: named(name) } : {} })).json();
  },
  async rename(app, user, id, name) {
    await call('PATCH', `${sessionsPath(app, user)}/${enc(id)}`, { body: { stateDelta: named(name) } });
  },
  async remove(app, user, id) { await call('DELETE', `${sessionsPath(app, user)}/${enc(id)}`); },
};

export const CUT_OFF = 'The connection was lost before the answer was complete.';

// Run one turn through POST /run_sse with token streaming; yields each event as it arrives.
export async function* runStream(appName, userId, sessionId, text, signal, spoken = false) {
  // ?source=voice-ui: the conversation audit files these turns under Magec's "voice-ui" source
  // (&voice=1: the text came from speech)
  const res = await call('POST', `${A}/run_sse?source=voice-ui${spoken ? '&voice=1' : ''}`, {
    signal,
    body: { appName, userId, sessionId, streaming: true, newMessage: { role: 'user', parts: [{ text }] } },
  });
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    let got;
    try { got = await reader.read(); } catch (e) {
      // the connection dropped mid-answer (the server stopped, the network went): the browser's
      // own words are "network error", which says nothing of what happened to the answer
      if (e.name === 'AbortError' || signal?.aborted) throw e;
      onNetwork(false);
      throw new ApiError(CUT_OFF, 0);
    }
    const { value, done } = got;
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) yield JSON.parse(data);
    }
  }
}

export function textOf(event) {
  return (event.content?.parts || []).filter((p) => typeof p.text === 'string' && !p.thought).map((p) => p.text).join('');
}

const spoke = (s) => (s ? `?spokesperson=${enc(s)}` : '');

export async function transcribe(agentId, wav, spokesperson) {
  const form = new FormData();
  form.append('file', wav, 'speech.wav');
  return ((await (await call('POST', `/api/v1/voice/${enc(agentId)}/transcription${spoke(spokesperson)}`, { form })).json()).text || '').trim();
}

export async function speech(agentId, text, spokesperson, signal) {
  const res = await call('POST', `/api/v1/voice/${enc(agentId)}/speech${spoke(spokesperson)}`, { body: { input: text }, signal });
  return res.arrayBuffer();
}
