// Overview: counts per resource, agent health, getting-started checklist.
import { api } from '../api.js';
import { store, HEALTH_REFRESH_MS, HEALTH_LABEL } from '../store.js';
import { go } from '../router.js';
import { toast } from '../toast.js';
import { setupDemo } from '../demo.js';
import { Icon } from '../components/icon.js';
import { PageHeader } from '../components/common.js';
import { CostChart } from './costs.js';

const TILES = [
  ['backends', 'Backends', 'server'], ['agents', 'Agents', 'bot'], ['flows', 'Flows', 'flow'], ['memoryProviders', 'Memory', 'database', 'memory'],
  ['mcpServers', 'MCP servers', 'plug', 'mcps'], ['clients', 'Clients', 'users'], ['commands', 'Commands', 'terminal'], ['secrets', 'Secrets', 'key'],
];

export default {
  name: 'OverviewPage',
  components: { Icon, PageHeader, CostChart },
  data() { return { s: store, ov: null, error: '', demoBusy: false, demoStep: '', answered: false, server: null }; },
  computed: {
    counts() { return this.ov?.counts || {}; },
    agents() { return this.ov?.agents || store.agents; },
    // Offered while the server supports the offline "local" backend type and the user has no
    // backend yet: once they have one of their own (or the demo's), the offer is noise.
    showDemo() {
      return store.loaded.backends && store.backendTypes.some((t) => t.type === 'local') && !(this.ov?.backends || store.backends).length;
    },
    backends() { return this.ov?.backends || []; },
    steps() {
      return [
        { done: store.backends.length > 0, text: 'Add a backend (OpenAI, Ollama, Anthropic, Gemini or local)', page: 'backends' },
        { done: store.agents.length > 0, text: 'Create an agent that uses it', page: 'agents' },
        { done: store.clients.length > 0, text: 'Create a client token for your apps', page: 'clients' },
        // ticked once any agent has answered (recorded usage), whichever surface it was
        { done: this.answered, text: 'Chat with it in the playground', page: 'playground' },
      ];
    },
  },
  template: `
  <div class="page">
    <PageHeader title="Overview" icon="home" subtitle="Everything configured on this magec server."/>
    <div class="tiles">
      <button type="button" class="tile" v-for="t in TILES" :key="t[0]" @click="go(t[3] || t[0])" :class="'tile-' + (t[3] || t[0])">
        <Icon :name="t[2]" :size="20"/><span class="tile-n">{{ counts[t[0]] ?? (s[t[3] || t[0]] || []).length }}</span><span class="tile-l">{{ t[1] }}</span>
      </button>
    </div>
    <section class="panel" v-if="server && !server.adminPasswordSet" data-testid="access-panel">
      <div class="panel-head"><h2><Icon name="alert" :size="16"/> No admin password</h2></div>
      <p>This Admin UI and the Admin API answer only this machine (they listen on <code>{{ server.adminListen }}</code>) and ask nobody who they are.
        Before opening them to your network or putting them behind a reverse proxy, set <code>server.adminPassword</code> in <code>config.yaml</code>
        (or <code>MAGEC_ADMIN_PASSWORD</code>) and restart magec; a proxy's visitors are refused until then. Put TLS in front
        (<code>docs/security.md</code>, “Behind a TLS reverse proxy”).</p>
      <p class="muted" v-if="server.openAccess === 'local' && s.loaded.clients && !s.clients.length" data-testid="access-open-user-api">
        The user API (<code>{{ server.userApiUrl }}</code>) needs no token until you create a client, so it answers only this machine too.</p>
    </section>
    <section class="panel demo" v-if="showDemo" data-testid="demo-panel">
      <div class="panel-head"><h2>Try it offline</h2></div>
      <p class="muted">No API key? Set up a local backend, an agent that talks and listens, and long-term memory — all running on this machine.</p>
      <div class="row wrap">
        <button class="btn" type="button" @click="demo" :disabled="demoBusy" data-testid="demo-setup"><Icon name="zap" :size="16"/> {{ demoBusy ? 'Setting up…' : 'Set up the offline demo' }}</button>
        <span class="muted small" v-if="demoStep" aria-live="polite">{{ demoStep }}</span>
      </div>
    </section>
    <section class="panel" v-if="steps.some(x => !x.done)">
      <h2>Getting started</h2>
      <ol class="checklist">
        <li v-for="st in steps" :key="st.page" :class="{done: st.done}" :data-testid="'step-' + st.page" :data-done="st.done"><Icon :name="st.done ? 'check' : 'right'" :size="16"/>
          <a href="#" @click.prevent="go(st.page, st.page === 'playground' ? {} : {new: 1})">{{ st.text }}</a></li>
      </ol>
    </section>
    <section class="panel" data-testid="overview-costs">
      <div class="panel-head"><h2>Costs</h2><button class="btn ghost sm" type="button" @click="go('costs')"><Icon name="activity" :size="14"/> Details</button></div>
      <CostChart/>
    </section>
    <section class="panel">
      <div class="panel-head"><h2>Agents</h2><button class="btn ghost sm" type="button" @click="go('playground')"><Icon name="chat" :size="14"/> Playground</button></div>
      <p class="muted" v-if="!agents.length">No agents yet.</p>
      <ul class="agent-status">
        <li v-for="a in agents" :key="a.id" :data-testid="'overview-agent-' + a.name" :data-status="agentWord(a)"><span class="dot" :class="agentDot(a)"></span>
          <a href="#" @click.prevent="go('agents', {edit: a.id})">{{ a.name }}</a>
          <span class="badge" :class="agentDot(a) === 'unhealthy' ? 'danger' : (agentDot(a) === 'degraded' ? 'warn' : (agentDot(a) === 'unknown' ? 'muted' : 'ok'))">{{ agentWord(a) }}</span>
          <span class="error-text small" v-if="a.valid === false">{{ a.invalidReason }}</span>
          <span class="error-text small" v-else-if="a.health && a.health.reason">{{ a.health.reason }}</span></li>
      </ul>
    </section>
    <section class="panel" v-if="backends.length" data-testid="overview-backends">
      <div class="panel-head"><h2>Backends</h2><button class="btn ghost sm" type="button" @click="go('backends')"><Icon name="server" :size="14"/> Details</button></div>
      <ul class="agent-status">
        <li v-for="b in backends" :key="b.id" :data-testid="'overview-backend-' + b.name" :data-status="HEALTH_LABEL[b.status] || 'unknown'">
          <span class="dot" :class="HEALTH_LABEL[b.status] || 'unknown'"></span>
          <a href="#" @click.prevent="go('backends', {edit: b.id})">{{ b.name }}</a>
          <span class="badge" :class="{ up: 'ok', down: 'danger', degraded: 'warn' }[HEALTH_LABEL[b.status]] || 'muted'">{{ HEALTH_LABEL[b.status] || 'not checked' }}</span>
          <span class="error-text small" v-if="b.lastError && HEALTH_LABEL[b.status] !== 'up'">{{ b.lastError }}</span></li>
      </ul>
    </section>
  </div>`,
  setup() { return { TILES, go, HEALTH_LABEL }; },
  async mounted() {
    const refresh = async () => {
      try { this.ov = await api.get('/overview'); this.error = ''; } catch (e) { this.error = e.message; }
      if (!this.answered) { const u = await api.get('/usage').catch(() => []); this.answered = Array.isArray(u) && u.some((x) => x.agentId); }
    };
    api.get('/server').then((x) => { this.server = x; }).catch(() => {});
    this.timer = setInterval(() => { if (document.visibilityState === 'visible') refresh(); }, HEALTH_REFRESH_MS);
    await refresh();
  },
  unmounted() { clearInterval(this.timer); },
  methods: {
    hasBackend(a) { return !!(a.llm || store.agents.find((x) => x.id === a.id)?.llm)?.backend; },
    agentDot(a) {
      if (a.valid === false || a.health?.status === 'backend_unreachable') return 'unhealthy';
      if (['degraded', 'fallback'].includes(a.health?.status)) return 'degraded';
      return a.health?.status === 'unknown' && this.hasBackend(a) ? 'unknown' : 'healthy';
    },
    agentWord(a) {
      if (a.valid === false) return 'invalid';
      if (a.health?.status === 'unknown' && !this.hasBackend(a)) return 'ready'; // e.g. a remote A2A agent
      return ({ backend_unreachable: 'unreachable', fallback: 'on fallback', degraded: 'degraded', unknown: 'not checked' })[a.health?.status] || 'ready';
    },
    async demo() {
      this.demoBusy = true;
      try {
        const r = await setupDemo((t) => { this.demoStep = t; });
        if (r.probe && !r.probe.ok) toast.info(`Demo created, but the local models are not ready: ${r.probe.error || 'see Backends → Local'}. Run scripts/install-local-models.sh.`);
        else toast.success('Offline demo ready: say hello to “Local assistant”.');
        go('playground', { app: r.agent.id });
      } catch (e) { toast.error(e); this.demoStep = ''; } finally { this.demoBusy = false; }
    },
  },
};
