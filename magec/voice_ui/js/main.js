// The Voice UI app: pairing, agent/flow switcher, conversations, text, push-to-talk and hands-free.
import { createApp, reactive, computed, nextTick } from 'vue';
import { ApiError, CUT_OFF, NAME_KEY, auth, clientInfo, deviceUser, runStream, sessions, speech, textOf, transcribe, watchNetwork } from './api.js';
import { Mic, VoiceEvents, encodeWav, play, stopPlaying } from './audio.js';

const AGENT_KEY = 'magec.voice.agent';
const SPOKES_KEY = 'magec.voice.spokesperson';
const WAKE_KEY = 'magec.voice.wakeword';
const MAX_RECORD_SECONDS = 20;
// the server's 401 message for a known token of a disabled client (magec.api.clients.CLIENT_DISABLED)
const CLIENT_DISABLED = 'this client is disabled';
const STATE_WORDS = {
  idle: 'Ready', listening: 'Listening for the wake word', recording: 'Listening…', transcribing: 'Transcribing…',
  thinking: 'Thinking…', speaking: 'Speaking', offline: 'Offline',
};

const s = reactive({
  booting: true, needsPairing: false, suspended: false, pairError: '', pairing: false, token: auth.token,
  info: null, agents: [], agentId: '', spokesperson: '', status: 'idle',
  messages: [], conversations: [], sessionId: '', drawer: false, menu: false,
  handsFree: false, wake: null, wakeModel: '', wakeId: '', wakeModels: [], online: true, wsUp: false, notices: [],
  text: '', tokenInput: '', pttDown: false, played: 0, lastEvent: '',
});
const user = deviceUser();
const mic = new Mic();
let recording = null; // {frames, rate, timer}
let turnAbort = null;
let unsub = null;

function notify(kind, text) {
  if (s.notices.some((x) => x.text === text)) return; // the same words once at a time
  const n = { id: Math.random(), kind, text };
  s.notices.push(n);
  setTimeout(() => { const i = s.notices.indexOf(n); if (i >= 0) s.notices.splice(i, 1); }, kind === 'error' ? 8000 : 4000);
}
const say = (e) => (e instanceof ApiError || e instanceof Error ? e.message : String(e));

// Offline: the banner says "Retrying…", so the app retries by itself — the server's liveness probe,
// 1 s after the loss and then less often (up to 15 s) — until the server answers again; then it reads
// the client's agents again (a restarted server may have other settings). Without the probe the
// banner stayed until the person happened to send something.
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;
let retryTimer = null;
function wentOffline() {
  if (!s.online) return;
  s.online = false;
  notify('error', 'Connection lost. Retrying…');
  retrySoon(RETRY_FIRST_MS);
}
function cameBack() {
  clearTimeout(retryTimer); retryTimer = null;
  if (s.online) return;
  s.online = true;
  notify('info', 'Connection regained.');
  refreshAgents();
}
function retrySoon(ms) {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(async () => {
    if (s.online) return;
    try {
      const res = await fetch('/api/v1/health', { cache: 'no-store' });
      if (res.ok) { cameBack(); return; }
    } catch { /* still down */ }
    retrySoon(Math.min(Math.max(ms * 2, RETRY_FIRST_MS), RETRY_MAX_MS));
  }, ms);
}
watchNetwork((ok) => (ok ? cameBack() : wentOffline()));
window.addEventListener('online', () => { if (!s.online) retrySoon(0); });
window.addEventListener('offline', wentOffline);

const current = computed(() => s.agents.find((a) => a.id === s.agentId) || null);
const members = computed(() => (current.value?.type === 'flow' ? current.value.agents || [] : []));
// What the no-voice banner says. In a flow it names the spokesperson and another member that has a
// voice: "text only" would be untrue of the flow (its voice is whoever is picked under "Voice of").
const noVoiceText = computed(() => {
  const v = voiceOf.value;
  const what = !v.tts && !v.stt ? 'no voice' : !v.tts ? 'no text-to-speech' : 'no speech-to-text';
  if (current.value?.type === 'flow') {
    const who = members.value.find((m) => m.id === s.spokesperson)?.name || 'This agent';
    const other = members.value.find((m) => m.id !== s.spokesperson && m.voice?.stt && m.voice?.tts);
    if (other) return `${who} has ${what} configured: pick another "Voice of" (${other.name} has a voice).`;
  }
  if (!v.tts && !v.stt) return 'This agent has no voice configured: text only.';
  return !v.tts ? 'This agent has no text-to-speech configured: answers are shown, not spoken.'
    : 'This agent has no speech-to-text configured: type instead of talking.';
});
// Nothing to talk to: say who can change that, and where (a fresh install has no agent at all; a
// paired device's client may have none allowed). "No agents are available" left the person at a
// dead end, and the message box took text that went nowhere.
const noAgentsText = computed(() => (s.info?.openMode
  ? 'There are no agents yet. Create one in the Admin UI (the admin port, 8081 by default; on a machine without API keys, "Set up the offline demo" there makes one), then reload this page.'
  : 'This device\'s client may use no agent yet. An administrator picks its agents in the Admin UI (Clients → edit this client); the list is read again when you come back to this app.'));
const voiceOf = computed(() => {
  const c = current.value;
  if (!c) return { stt: false, tts: false };
  if (c.type === 'flow' && s.spokesperson) return members.value.find((m) => m.id === s.spokesperson)?.voice || { stt: false, tts: false };
  return c.voice || { stt: false, tts: false };
});

// ---- pairing and start ------------------------------------------------------------------------

async function boot() {
  s.suspended = false; s.pairError = '';
  try {
    const info = await clientInfo();
    if (!info.paired && !info.openMode) { s.needsPairing = true; return; }
    s.needsPairing = false;
    await start(info);
  } catch (e) {
    // a disabled client comes back when it is enabled again: keep the token (it was shown once)
    if (e.status === 401 && e.message === CLIENT_DISABLED) { s.needsPairing = true; s.suspended = true; s.pairError = 'This device\'s client is disabled on the server. Ask an administrator to enable it, then try again.'; }
    else if (e.status === 401) { auth.clear(); s.token = ''; s.needsPairing = true; s.pairError = 'This device was unpaired on the server. Pair it again.'; }
    // an open server (no client yet) answers only its own machine: say why, on the pairing screen
    else if (e.status === 403) { s.needsPairing = true; s.pairError = say(e); }
    else notify('error', say(e));
  } finally { s.booting = false; }
}

async function pair(token) {
  s.pairing = true; s.pairError = '';
  try {
    const info = await clientInfo(token.trim());
    if (!info.paired) throw new ApiError('That token did not pair this device.');
    auth.set(token.trim()); s.token = token.trim(); s.tokenInput = ''; s.needsPairing = false; s.suspended = false;
    await start(info);
  } catch (e) {
    s.pairError = e.status === 401 ? 'That token is not valid (or its client is disabled).' : say(e);
  } finally { s.pairing = false; }
}

function unpair() {
  stopHandsFree(); auth.clear(); s.token = ''; s.menu = false;
  s.info = null; s.agents = []; s.messages = []; s.conversations = []; s.sessionId = '';
  clientInfo('').catch(() => {}); // clears the WebSocket cookie
  s.needsPairing = true;
}

async function start(info) {
  s.info = info; s.agents = info.allowedAgents || [];
  const saved = localStorage.getItem(AGENT_KEY);
  const pick = s.agents.find((a) => a.id === saved) ? saved : info.defaultAgent || s.agents[0]?.id || '';
  await selectAgent(pick);
}

// An installed app is resumed, not reloaded: what its client may use is read again when it comes
// back to the foreground and when the server refuses an agent (an administrator took it away), so
// the switcher lists what the client has now instead of what it had when the app was opened.
async function refreshAgents() {
  if (!s.info || s.needsPairing) return;
  try {
    const info = await clientInfo();
    if (!info.paired && !info.openMode) { await boot(); return; }
    s.info = info; s.agents = info.allowedAgents || [];
    if (!s.agents.some((a) => a.id === s.agentId)) await selectAgent(info.defaultAgent || s.agents[0]?.id || '');
  } catch (e) { if (e.status === 401) await boot(); }
}
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') refreshAgents(); });

async function selectAgent(id) {
  s.agentId = id; localStorage.setItem(AGENT_KEY, id);
  const c = current.value;
  if (c?.type === 'flow') {
    const saved = localStorage.getItem(SPOKES_KEY + ':' + id);
    const first = members.value.find((m) => m.responseAgent) || members.value.find((m) => m.voice?.tts) || members.value[0];
    s.spokesperson = members.value.some((m) => m.id === saved) ? saved : first?.id || '';
  } else s.spokesperson = '';
  s.messages = []; s.sessionId = '';
  if (id) await loadConversations(true);
}

function setSpokesperson(id) { s.spokesperson = id; localStorage.setItem(SPOKES_KEY + ':' + s.agentId, id); }

// ---- conversations ----------------------------------------------------------------------------

async function loadConversations(openLatest = false) {
  try {
    const list = await sessions.list(s.agentId, user);
    list.sort((a, b) => (b.lastUpdateTime || 0) - (a.lastUpdateTime || 0));
    s.conversations = list;
    if (openLatest && list.length) await openConversation(list[0].id);
  } catch (e) { notify('error', say(e)); }
}

async function openConversation(id) {
  try {
    const sess = await sessions.get(s.agentId, user, id);
    s.sessionId = id; s.drawer = false;
    // an answer cut off mid-stream (Stop, a hang-up, the server stopping) is stored as ADK's
    // "interrupted" event: it is shown cut off after a reload too, not as a finished answer
    s.messages = (sess.events || []).map((ev) => ({ role: ev.author === 'user' ? 'user' : 'agent', author: ev.authorName || ev.author, text: textOf(ev), cut: ev.interrupted === true }))
      .filter((m) => m.text);
    scrollDown();
  } catch (e) { notify('error', say(e)); }
}

// "New conversation" on its way ({agent, promise}): a message sent before the server answered goes
// to that conversation instead of opening a second one
let creating = null;

async function newConversation() {
  const agent = s.agentId;
  s.sessionId = ''; s.messages = []; s.drawer = false;
  const pending = creating = { agent, promise: sessions.create(agent, user) };
  try {
    const sess = await pending.promise;
    if (s.agentId === agent && !s.sessionId) s.sessionId = sess.id;
    await loadConversations();
  } catch (e) { notify('error', say(e)); }
  finally { if (creating === pending) creating = null; }
}

// the conversation a message to ``agent`` goes to when none is open; ``name`` (its first message)
// names it
async function conversationFor(agent, name) {
  if (creating?.agent === agent) {
    try {
      const id = (await creating.promise).id;
      await nameConversation(agent, id, name);
      return id;
    } catch { /* newConversation reports it */ }
  }
  return (await sessions.create(agent, user, name)).id;
}

// Conversations are listed by their first message (as Magec's Voice UI does): a list of time stamps
// told two conversations apart by nothing a person remembers. A name is a nicety: a failure to
// give one does not stop the turn.
const MAX_NAME = 60;
function nameOf(text) { return text.length > MAX_NAME ? text.slice(0, MAX_NAME).trimEnd() + '…' : text; }
async function nameConversation(agent, id, name) {
  if (!name) return;
  try { await sessions.rename(agent, user, id, name); } catch { /* listed by its time instead */ }
}

async function deleteConversation(id) {
  try {
    await sessions.remove(s.agentId, user, id);
    if (id === s.sessionId) { s.sessionId = ''; s.messages = []; }
    await loadConversations();
  } catch (e) { notify('error', say(e)); }
}

function conversationWhen(c) {
  return c.lastUpdateTime ? new Date(c.lastUpdateTime * 1000).toLocaleString() : '';
}
function conversationName(c) { const n = c.state?.[NAME_KEY]?.displayName; return typeof n === 'string' ? n : ''; }
function conversationTitle(c) { return conversationName(c) || conversationWhen(c) || c.id; }

// ---- a turn: text → streamed answer → speech ---------------------------------------------------

function scrollDown() { nextTick(() => { const el = document.querySelector('.messages'); if (el) el.scrollTop = el.scrollHeight; }); }

async function send(text, { spoken = false } = {}) {
  text = (text || '').trim();
  if (!text || !s.agentId) return;
  turnAbort?.abort();
  turnAbort = new AbortController();
  // the first message of a conversation names it (an opened one already holds its history)
  const name = s.messages.some((m) => m.role === 'user') ? '' : nameOf(text);
  s.messages.push({ role: 'user', text });
  s.status = 'thinking';
  scrollDown();
  const answers = new Map();
  let failed = false; // the server said why the turn failed (an error event)
  try {
    if (!s.sessionId) s.sessionId = await conversationFor(s.agentId, name);
    else await nameConversation(s.agentId, s.sessionId, name);
    for await (const ev of runStream(s.agentId, user, s.sessionId, text, turnAbort.signal, spoken)) {
      s.lastEvent = ev.partial ? 'partial' : 'event';
      if (ev.errorCode || ev.errorMessage) { failed = true; notify('error', ev.errorMessage || ev.errorCode); continue; }
      const t = textOf(ev);
      if (!t) continue;
      const key = ev.author || 'agent';
      let m = answers.get(key);
      if (!m) { m = reactive({ role: 'agent', author: ev.authorName || ev.author, text: '', partial: true }); answers.set(key, m); s.messages.push(m); }
      if (ev.partial) m.text += t; else { m.text = t; m.partial = false; }
      scrollDown();
    }
  } catch (e) {
    if (e.name !== 'AbortError') notify('error', say(e));
    markCut(answers);
    s.status = idleStatus();
    if (e.status === 403) await refreshAgents();
    return;
  }
  // a stream that ended before an answer's last event cut it off: said so, unless the server's
  // error event already said why
  if (markCut(answers) && !failed) notify('error', CUT_OFF);
  loadConversations();
  const reply = [...answers.values()].map((m) => m.text).join('\n\n').trim();
  if (reply && (spoken || s.handsFree) && voiceOf.value.tts) await speak(reply);
  s.status = idleStatus();
}

// Answers still streaming when their stream ended are marked cut off, not left looking finished.
function markCut(answers) {
  let cut = false;
  for (const m of answers.values()) if (m.partial) { m.partial = false; m.cut = true; cut = true; }
  return cut;
}

async function speak(text) {
  s.status = 'speaking';
  try {
    const audio = await speech(s.agentId, text, s.spokesperson || undefined, turnAbort?.signal);
    await mic.start();
    await play(mic.ctx, audio);
    s.played++;
  } catch (e) {
    if (e.name !== 'AbortError') notify('error', e.name === 'EncodingError' ? 'The answer arrived in an audio format this browser cannot play.' : say(e));
  }
}

function idleStatus() { return s.handsFree ? 'listening' : 'idle'; }

function stopTurn() { turnAbort?.abort(); stopPlaying(); s.status = idleStatus(); }

// ---- recording: push-to-talk and after the wake word -------------------------------------------

function startRecording() {
  if (recording) return;
  recording = { frames: [], rate: mic.rate };
  recording.timer = setTimeout(() => finishRecording(), MAX_RECORD_SECONDS * 1000);
  s.status = 'recording';
}

async function finishRecording({ tapped = false } = {}) {
  const rec = recording;
  recording = null;
  if (!rec) return;
  clearTimeout(rec.timer);
  const seconds = rec.frames.reduce((n, f) => n + f.length, 0) / (rec.rate || 1);
  if (seconds < 0.3) { if (tapped) notify('info', HOLD_HINT); s.status = idleStatus(); return; }
  s.status = 'transcribing';
  try {
    const text = await transcribe(s.agentId, encodeWav(rec.frames, rec.rate), s.spokesperson || undefined);
    if (!text) { notify('info', 'I did not catch that.'); s.status = idleStatus(); return; }
    await send(text, { spoken: true });
  } catch (e) { notify('error', say(e)); s.status = idleStatus(); }
}

// getUserMedia's failures, in words that say what to do (the browser's own — "Requested device not
// found", "Could not start audio source" — do not)
const MIC_ERRORS = {
  NotAllowedError: 'The microphone is blocked for this page. Allow it in the browser\'s site settings (the icon next to the address, or the app\'s settings when installed), then try again. Typing works meanwhile.',
  NotFoundError: 'No microphone was found on this device. Connect one, or type instead.',
  NotReadableError: 'The microphone could not be started: another app may be using it. Close that app and try again.',
  OverconstrainedError: 'The microphone could not be started: another app may be using it. Close that app and try again.',
};

async function ensureMic() {
  try {
    await mic.start();
    if (!unsub) {
      unsub = mic.onFrame((frame) => {
        if (recording) recording.frames.push(frame);
        // the wake word is muted while thinking or speaking: the device would hear itself
        if (s.handsFree && (s.status === 'listening' || s.status === 'recording')) s.wake?.send(frame, mic.rate);
      });
    }
    return true;
  } catch (e) {
    notify('error', MIC_ERRORS[e.name] || say(e));
    return false;
  }
}

// A press is noted at once: the microphone's first start takes a moment (a permission prompt, the
// audio graph), and a release meanwhile — a tap — must not leave a recording running with no one
// holding the button (it went on for 20 s and was then sent to the agent).
let press = 0; // the press being held (0: none)
async function pttStart() {
  if (!voiceOf.value.stt) { notify('error', 'This agent has no speech-to-text configured.'); return; }
  const mine = ++press;
  s.pttDown = true;
  const ok = await ensureMic();
  if (press !== mine || !s.pttDown) { if (ok) notify('info', HOLD_HINT); return; } // released meanwhile
  if (!ok) { s.pttDown = false; press = 0; return; }
  stopTurn();
  startRecording();
}
function pttEnd() {
  if (!s.pttDown) return;
  s.pttDown = false; press = 0;
  finishRecording({ tapped: true });
}
const HOLD_HINT = 'Hold the button while you speak, then let go to send.';

async function toggleHandsFree() {
  if (s.handsFree) { stopHandsFree(); return; }
  if (!voiceOf.value.stt) { notify('error', 'This agent has no speech-to-text configured.'); return; }
  if (!(await ensureMic())) return;
  s.handsFree = true; s.status = 'listening';
  s.wake = new VoiceEvents({
    onOpen: (caps) => {
      s.wsUp = true;
      s.wakeModels = caps.wakewords?.models || [];
      const saved = localStorage.getItem(WAKE_KEY);
      if (saved && saved !== caps.wakewords?.active && s.wakeModels.some((m) => m.id === saved)) { s.wake.setModel(saved); return; }
      s.wakeId = caps.wakewords?.active || '';
      s.wakeModel = s.wakeModels.find((m) => m.id === s.wakeId)?.phrase || s.wakeId;
    },
    onWakeword: () => { if (s.status === 'listening') startRecording(); },
    onSpeechEnd: () => { if (recording && !s.pttDown) finishRecording(); },
    onError: (err) => notify('error', err?.message || 'Voice channel error.'),
    onClose: (code) => {
      if (s.wsUp) notify('error', 'Voice channel lost. Reconnecting…');
      s.wsUp = false;
      if (code === 4401 || code === 1008) stopHandsFree();
    },
  });
  s.wake.connect(auth.token);
}

function setWakeword(id) { localStorage.setItem(WAKE_KEY, id); s.wake?.setModel(id); }

function stopHandsFree() {
  s.handsFree = false; s.wsUp = false;
  s.wake?.close(); s.wake = null;
  if (recording && !s.pttDown) { clearTimeout(recording.timer); recording = null; }
  if (s.status === 'listening' || s.status === 'recording') s.status = 'idle';
}

// ---- view ---------------------------------------------------------------------------------------

const App = {
  setup() {
    return {
      s, current, members, voiceOf, noVoiceText, noAgentsText, STATE_WORDS, pair, unpair, retry() { s.booting = true; boot(); }, selectAgent, setSpokesperson, newConversation,
      openConversation, deleteConversation, conversationTitle, conversationName, conversationWhen, send, pttStart, pttEnd, toggleHandsFree, stopTurn, setWakeword,
      submit() { const t = s.text; s.text = ''; send(t); },
    };
  },
  template: `
  <div class="shell" :data-state="s.status">
    <div v-if="s.booting" class="boot">Starting…</div>
    <section v-else-if="s.needsPairing" class="pairing" data-testid="pairing">
      <div class="logo" aria-hidden="true"></div>
      <h1>Pair this device</h1>
      <p>Paste the client token an administrator created for this device (Admin UI → Clients).</p>
      <form @submit.prevent="pair(s.tokenInput)">
        <input v-model="s.tokenInput" data-testid="token" type="password" autocomplete="off" placeholder="mgc_…" aria-label="Client token">
        <button class="primary" :disabled="s.pairing || !s.tokenInput.trim()" data-testid="pair">Pair</button>
      </form>
      <p v-if="s.pairError" class="error" role="alert" data-testid="pair-error">{{ s.pairError }}</p>
      <button v-if="s.suspended" @click="retry" data-testid="retry">Try again</button>
    </section>
    <template v-else>
      <header>
        <button class="icon" @click="s.drawer = !s.drawer" aria-label="Conversations" data-testid="conversations-toggle">☰</button>
        <select :value="s.agentId" @change="selectAgent($event.target.value)" data-testid="agent" aria-label="Agent">
          <option v-for="a in s.agents" :key="a.id" :value="a.id">{{ a.name }}{{ a.type === 'flow' ? ' (flow)' : '' }}</option>
        </select>
        <button class="icon" @click="s.menu = !s.menu" aria-label="Menu" data-testid="menu">⋮</button>
        <div v-if="s.menu" class="menu">
          <div class="who">{{ s.info?.paired ? 'Paired as ' + s.info.name : 'Open mode (no pairing needed)' }}</div>
          <label v-if="s.wakeModels.length">Wake word
            <select :value="s.wakeId" @change="setWakeword($event.target.value)" data-testid="wakeword">
              <option v-for="m in s.wakeModels" :key="m.id" :value="m.id">{{ m.phrase }}</option>
            </select>
          </label>
          <button v-if="s.info?.paired" @click="unpair" data-testid="unpair">Unpair this device</button>
        </div>
      </header>
      <div v-if="!s.online" class="banner error" role="status" data-testid="offline">Connection lost. Retrying…</div>
      <div v-if="current?.type === 'flow'" class="spokes">
        <label>Voice of
          <select :value="s.spokesperson" @change="setSpokesperson($event.target.value)" data-testid="spokesperson">
            <option v-for="m in members" :key="m.id" :value="m.id">{{ m.name }}{{ m.responseAgent ? ' ★' : '' }}</option>
          </select>
        </label>
      </div>
      <div v-if="current && (!voiceOf.tts || !voiceOf.stt)" class="banner warn" data-testid="no-voice">
        {{ noVoiceText }}
      </div>
      <div v-if="!s.agents.length" class="banner warn" data-testid="no-agents">{{ noAgentsText }}</div>
      <aside v-if="s.drawer" class="drawer" data-testid="drawer">
        <button class="primary" @click="newConversation" data-testid="new-conversation">New conversation</button>
        <ul>
          <li v-for="c in s.conversations" :key="c.id" :class="{active: c.id === s.sessionId}" data-testid="conversation">
            <button class="open" @click="openConversation(c.id)"><span class="name">{{ conversationTitle(c) }}</span>
              <small v-if="conversationName(c)" class="when">{{ conversationWhen(c) }}</small></button>
            <button class="icon" @click="deleteConversation(c.id)" :aria-label="'Delete conversation ' + conversationTitle(c)" data-testid="delete-conversation">🗑</button>
          </li>
          <li v-if="!s.conversations.length" class="empty">No conversations yet.</li>
        </ul>
      </aside>
      <main class="messages" data-testid="messages">
        <div v-for="(m, i) in s.messages" :key="i" :class="['msg', m.role, {partial: m.partial}]" data-testid="message">
          <div v-if="m.role === 'agent' && m.author" class="author">{{ m.author }}</div>
          <div class="text">{{ m.text }}</div>
          <div v-if="m.cut" class="cut" data-testid="cut">Cut off: this answer is incomplete.</div>
        </div>
      </main>
      <div class="status" data-testid="status" :data-played="s.played" aria-live="polite">
        <span class="orb"></span>{{ STATE_WORDS[s.status] }}<template v-if="s.status === 'listening' && s.wakeModel"> — say “{{ s.wakeModel }}”</template>
        <button v-if="s.status === 'thinking' || s.status === 'speaking'" class="link" @click="stopTurn" data-testid="stop">Stop</button>
      </div>
      <footer>
        <form class="compose" @submit.prevent="submit">
          <input v-model="s.text" placeholder="Type a message" aria-label="Message" data-testid="text" :disabled="!s.agentId">
          <button class="primary" :disabled="!s.text.trim() || !s.agentId" data-testid="send">Send</button>
        </form>
        <div class="voice">
          <button :class="['ptt', {down: s.pttDown}]" :disabled="!voiceOf.stt" data-testid="ptt"
                  @pointerdown.prevent="pttStart" @pointerup.prevent="pttEnd" @pointerleave="pttEnd" @pointercancel="pttEnd" @contextmenu.prevent>
            {{ s.pttDown ? 'Release to send' : 'Hold to talk' }}</button>
          <button :class="['hands', {on: s.handsFree}]" :disabled="!voiceOf.stt" @click="toggleHandsFree" data-testid="hands-free" :aria-pressed="s.handsFree">
            {{ s.handsFree ? 'Hands-free on' : 'Hands-free' }}</button>
        </div>
      </footer>
    </template>
    <div class="notices"><div v-for="n in s.notices" :key="n.id" :class="['notice', n.kind]" role="alert" data-testid="notice">{{ n.text }}</div></div>
  </div>`,
};

createApp(App).mount('#app');
boot();
if ('serviceWorker' in navigator) navigator.serviceWorker.register('./sw.js').catch(() => {});
