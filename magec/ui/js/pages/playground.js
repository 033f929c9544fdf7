// Playground: chat with any agent or flow over run_sse (streaming), tool calls, authors, voice.
import { api, raw } from '../api.js';
import { store, isPending } from '../store.js';
import { toast } from '../toast.js';
import { route } from '../router.js';
import { readSSE, applyEvent } from '../sse.js';
import { Recorder, transcribe, speak, stopSpeaking } from '../voice.js';
import { Icon } from '../components/icon.js';
import { renderMarkdown } from '../markdown.js';

const newSession = () => `pg-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

export default {
  name: 'PlaygroundPage',
  components: { Icon },
  data() {
    return { s: store, apps: [], app: route.params.app || localStorage.getItem('magec.pg.app') || '', userId: localStorage.getItem('magec.pg.user') || 'admin',
      sessionId: newSession(), created: false, turns: [], input: '', busy: false, ctrl: null, recording: false, rec: null,
      transcribing: false, autoSpeak: false, loadError: '' };
  },
  computed: {
    current() { return this.apps.find((a) => a.id === this.app); },
    agent() { return store.agents.find((a) => a.id === this.app); },
    // Agents that can speak/listen for this app: the agent itself, or (flows) any agent in it.
    voiceAgents() {
      if (this.agent) return [this.agent];
      const flow = store.flows.find((f) => f.id === this.app);
      const ids = [];
      const walk = (st) => { if (!st) return; if (st.type === 'agent' && st.agentId) ids.push(st.agentId); (st.steps || []).forEach(walk); };
      if (flow) (flow.nodes || [flow.root]).forEach(walk); // graph flows: their nodes
      return ids.map((id) => store.agents.find((a) => a.id === id)).filter(Boolean);
    },
    canListen() { return this.voiceAgents.some((a) => a.transcription?.backend); },
    canSpeak() { return this.voiceAgents.some((a) => a.tts?.backend); },
    agentsList() { return this.apps.filter((a) => a.kind !== 'flow'); },
    flowsList() { return this.apps.filter((a) => a.kind === 'flow'); },
    // For flows: ids of the agents whose answer the end user sees.
    responders() {
      const flow = store.flows.find((f) => f.id === this.app);
      const out = new Set();
      const walk = (st) => { if (!st) return; if (st.type === 'agent' && st.responseAgent) out.add(st.agentId); (st.steps || []).forEach(walk); };
      if (flow) (flow.nodes || [flow.root]).forEach(walk); // graph flows: their nodes
      return out;
    },
  },
  watch: {
    app(v) { localStorage.setItem('magec.pg.app', v); this.reset(false); },
    userId(v) { localStorage.setItem('magec.pg.user', v); this.reset(false); },
    'route.params.app'(v) { if (v) this.app = v; },
    // Validity changes as the runtime rebuilds: follow the store's refreshes.
    's.agents'() { this.loadApps(); },
    's.flows'() { this.loadApps(); },
  },
  template: `
  <div class="page playground">
    <aside class="pg-side panel">
      <h1><Icon name="chat" :size="22"/> Playground</h1>
      <div class="field"><label for="pg-app">Agent or flow</label>
        <select id="pg-app" v-model="app" data-testid="pg-app">
          <option value="" disabled>— choose —</option>
          <optgroup label="Agents" v-if="agentsList.length"><option v-for="a in agentsList" :key="a.id" :value="a.id">{{ a.name }}{{ suffix(a) }}</option></optgroup>
          <optgroup label="Flows" v-if="flowsList.length"><option v-for="a in flowsList" :key="a.id" :value="a.id">{{ a.name }}{{ suffix(a) }}</option></optgroup>
        </select>
        <p class="error-text small" v-if="current && current.valid === false && !isPending(current)">{{ current.invalidReason || 'This app is invalid.' }}</p>
        <p class="error-text small" v-if="loadError">{{ loadError }}</p></div>
      <div class="field pg-extra"><label for="pg-user">User id</label><input id="pg-user" v-model.lazy.trim="userId"></div>
      <div class="field pg-extra"><label>Session</label><code class="small">{{ sessionId }}</code></div>
      <label class="check" v-if="canSpeak"><input type="checkbox" v-model="autoSpeak"> Speak answers</label>
      <div class="muted small pg-extra" v-if="current">
        <div v-if="canListen"><Icon name="mic" :size="12"/> Speech-to-text ready</div>
        <div v-if="canSpeak"><Icon name="volume" :size="12"/> Text-to-speech ready</div>
        <div v-if="!canListen && !canSpeak">No voice configured for this {{ agent ? 'agent' : 'flow' }}.</div></div>
      <button class="btn secondary" type="button" @click="reset(true)" data-testid="pg-reset"><Icon name="refresh" :size="16"/> Reset session</button>
    </aside>
    <section class="pg-chat panel">
      <div class="pg-log" ref="log" data-testid="pg-log">
        <div class="muted pg-empty" v-if="!turns.length">{{ app ? 'Say something to ' + (current ? current.name : 'the agent') + '.' : 'Choose an agent or a flow to start.' }}</div>
        <div v-for="(t, ti) in turns" :key="ti" class="turn">
          <div class="msg user"><div class="bubble">{{ t.user }}</div></div>
          <template v-for="(it, i) in t.items" :key="i">
            <div v-if="it.kind === 'text'" class="msg agent" :class="{intermediate: responders.size && !isResponder(it.author)}" :data-author="it.author">
              <div class="author">{{ authorName(it.author) }}<span class="badge ok" v-if="responders.size && isResponder(it.author)">response</span></div>
              <div class="bubble md" :class="{streaming: it.open}" data-testid="agent-text" v-html="renderMarkdown(it.text)"></div>
              <button v-if="speakerFor(it.author) && !it.open" class="icon-btn sm" type="button" @click="play(it.text, it.author)" title="Play" aria-label="Play answer"><Icon name="play" :size="14"/></button>
            </div>
            <details v-else class="tool-call" :data-author="it.author">
              <summary><Icon name="tool" :size="14"/> <strong>{{ it.name }}</strong> <span class="muted small">by {{ authorName(it.author) }}</span>
                <span class="badge" :class="it.response === undefined ? 'muted' : 'ok'">{{ it.response === undefined ? 'calling…' : 'done' }}</span></summary>
              <div class="small"><div class="label">Arguments</div><pre>{{ fmt(it.args) }}</pre>
                <template v-if="it.response !== undefined"><div class="label">Result</div><pre>{{ fmt(it.response) }}</pre></template></div>
            </details>
          </template>
          <div class="typing" v-if="t.pending && !t.items.length"><span></span><span></span><span></span></div>
          <div class="banner error small" v-if="t.error" role="alert"><Icon name="alert" :size="14"/> {{ t.error }}</div>
        </div>
      </div>
      <form class="pg-input" @submit.prevent="send()">
        <button v-if="canListen" class="icon-btn big" :class="{rec: recording}" type="button" @click="toggleRec" :disabled="transcribing || busy"
          :title="recording ? 'Stop recording' : 'Record'" :aria-label="recording ? 'Stop recording' : 'Record'"><Icon :name="recording ? 'stop' : 'mic'"/></button>
        <textarea v-model="input" rows="1" :placeholder="transcribing ? 'Transcribing…' : 'Message… (Enter to send, Shift+Enter: new line)'"
          @keydown.enter.exact.prevent="send()" :disabled="!app" aria-label="Message" data-testid="pg-input"></textarea>
        <button v-if="busy" class="btn secondary" type="button" @click="stop"><Icon name="stop" :size="16"/> Stop</button>
        <button v-else class="btn" type="submit" :disabled="!app || !input.trim()"><Icon name="send" :size="16"/> Send</button>
      </form>
    </section>
  </div>`,
  setup() { return { route, renderMarkdown }; },
  async mounted() {
    await this.loadApps();
    if (!this.apps.some((a) => a.id === this.app)) this.app = this.apps[0]?.id || '';
  },
  unmounted() { if (this.ctrl) this.ctrl.abort(); stopSpeaking(); clearTimeout(this.appsTimer); },
  methods: {
    authorName(a) {
      const x = store.agents.find((g) => g.id === a || g.name === a) || store.flows.find((f) => f.id === a || f.name === a);
      return x ? x.name : a;
    },
    isPending,
    suffix(a) { return isPending(a) ? ' (building…)' : a.valid === false ? ' (invalid)' : ''; },
    async loadApps() {
      clearTimeout(this.appsTimer);
      try {
        this.apps = await api.get('/agent/list-apps'); this.loadError = '';
        if (this.apps.some(isPending) && (this.appsPolls = (this.appsPolls || 0) + 1) < 30) this.appsTimer = setTimeout(() => this.loadApps(), 700);
      } catch (e) {
        this.loadError = `Could not list apps: ${e.message}`;
        this.apps = [...store.agents.map((a) => ({ ...a, kind: 'agent' })), ...store.flows.map((f) => ({ ...f, kind: 'flow' }))];
      }
    },
    isResponder(a) {
      const ag = store.agents.find((g) => g.id === a || g.name === a);
      return this.responders.has(ag ? ag.id : a);
    },
    fmt(v) { return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v, null, 2); },
    scroll() { this.$nextTick(() => { const l = this.$refs.log; if (l) l.scrollTop = l.scrollHeight; }); },
    sessionPath() { return `/agent/apps/${encodeURIComponent(this.app)}/users/${encodeURIComponent(this.userId)}/sessions/${encodeURIComponent(this.sessionId)}`; },
    async reset(server) {
      if (this.ctrl) this.ctrl.abort();
      if (server && this.created) { try { await api.del(this.sessionPath()); toast.info('Session reset'); } catch (e) { if (e.status !== 404) toast.error(e); } }
      this.turns = []; this.created = false; this.sessionId = newSession();
    },
    async send(text) {
      const msg = (text ?? this.input).trim();
      if (!msg || !this.app || this.busy) return;
      this.input = '';
      const turn = { user: msg, items: [], error: '', pending: true };
      this.turns.push(turn);
      const t = this.turns[this.turns.length - 1]; // reactive proxy
      this.busy = true; this.ctrl = new AbortController(); this.scroll();
      try {
        if (!this.created) { await api.post(this.sessionPath(), {}); this.created = true; }
        const res = await raw('POST', '/agent/run_sse', { signal: this.ctrl.signal, headers: { Accept: 'text/event-stream' },
          body: { appName: this.app, userId: this.userId, sessionId: this.sessionId, newMessage: { role: 'user', parts: [{ text: msg }] }, streaming: true } });
        for await (const ev of readSSE(res)) { applyEvent(t, ev); this.scroll(); }
        if (!t.items.length && !t.error) t.error = 'The agent returned no answer.';
      } catch (e) {
        if (e.name !== 'AbortError') t.error = e.message;
      } finally {
        t.pending = false; t.items.forEach((it) => { it.open = false; });
        this.busy = false; this.ctrl = null; this.scroll();
      }
      if (this.autoSpeak && this.canSpeak) {
        const last = [...t.items].reverse().find((it) => it.kind === 'text' && this.speakerFor(it.author));
        if (last) this.play(last.text, last.author);
      }
    },
    stop() { if (this.ctrl) this.ctrl.abort(); },
    // Which agent reads a message aloud: the author when it has TTS, else (agents) the agent itself.
    speakerFor(author) {
      const a = store.agents.find((g) => g.id === author || g.name === author);
      if (a && a.tts?.backend && this.voiceAgents.includes(a)) return a.id;
      return this.agent && this.canSpeak ? this.agent.id : null;
    },
    async play(text, author) {
      const who = author ? this.speakerFor(author) : null;
      try { await speak(this.app, text, this.agent ? null : who); } catch (e) { toast.error(`Speech failed: ${e.message}`); }
    },
    async toggleRec() {
      if (!this.recording) {
        try { this.rec = new Recorder(); await this.rec.start(); this.recording = true; } catch (e) { toast.error(`Microphone unavailable: ${e.message}`); }
        return;
      }
      this.recording = false; this.transcribing = true;
      try {
        const blob = await this.rec.stop();
        const text = await transcribe(this.app, blob);
        if (text) await this.send(text); else toast.info('Nothing was heard');
      } catch (e) { toast.error(`Transcription failed: ${e.message}`); } finally { this.transcribing = false; }
    },
  },
};
