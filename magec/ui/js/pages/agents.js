// Agents: cards with LLM backend/model, voice, MCPs, validity; dialog for create/edit.
import { store, load, nameOf, isPending, liveHealth } from '../store.js';
import { route, go, clearParams, onAction } from '../router.js';
import { Icon } from '../components/icon.js';
import { PageHeader, EmptyState, Skeleton, ErrorBanner, matches, sortable } from '../components/common.js';
import { confirmDelete } from '../components/confirm.js';
import { AgentDialog } from './agent-dialog.js';

export default {
  name: 'AgentsPage',
  mixins: [sortable('agents')],
  components: { Icon, PageHeader, EmptyState, Skeleton, ErrorBanner, AgentDialog },
  data() { return { s: store, filter: '' }; },
  computed: {
    // what the card shows from elsewhere counts too: "which agents run on Ollama / on qwen3?"
    items() { return this.sorted(store.agents.filter((a) => matches(a, this.filter, ['name', 'description', 'tags'], this.shownOf(a)))); },
  },
  template: `
  <div class="page">
    <PageHeader title="Agents" icon="bot" :count="s.agents.length" new-label="New agent" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
      subtitle="Each agent picks its own backend and model; changes apply to the next message, no restart."/>
    <ErrorBanner :error="s.errors.agents"/>
    <Skeleton v-if="!s.loaded.agents"/>
    <EmptyState v-else-if="!s.agents.length" icon="bot" title="No agents yet"
      :text="s.backends.length ? 'Create an agent and pick the backend and model it runs on.' : 'Create a backend first, then an agent that uses it.'"
      action="New agent" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity agent" v-for="a in items" :key="a.id" :data-testid="'agent-' + a.name" tabindex="0"
        @click="$refs.dlg.show(a)" @keydown.enter="$refs.dlg.show(a)">
        <header class="card-head">
          <span class="avatar">{{ (a.name || '?').slice(0, 1).toUpperCase() }}</span>
          <h3>{{ a.name }}</h3>
          <span class="badge muted" v-if="isPending(a)" title="The runtime is building this agent">building…</span>
          <span class="badge" v-else :class="status(a).cls" :title="status(a).title" :data-testid="'agent-status-' + a.name">{{ status(a).text }}</span>
        </header>
        <p class="muted small clamp" v-if="a.description">{{ a.description }}</p>
        <p class="error-text small" v-if="a.valid === false && a.invalidReason && !isPending(a)">{{ a.invalidReason }}</p>
        <p class="small agent-health" :data-testid="'agent-health-' + a.name" v-if="a.valid !== false && a.health && a.health.reason"
          :class="a.health.status === 'backend_unreachable' ? 'error-text' : 'warn-text'">
          <span class="badge" :class="a.health.status === 'backend_unreachable' ? 'danger' : 'warn'">{{ ({ backend_unreachable: 'backend unreachable', fallback: 'running on fallback' })[a.health.status] || 'degraded' }}</span> {{ a.health.reason }}</p>
        <dl class="kv-list">
          <dt>LLM</dt><dd><span class="badge k-backend" v-if="a.llm && a.llm.backend">{{ nameOf('backends', a.llm.backend) }}</span><span class="badge danger" v-else>no backend</span>
            <code v-if="a.llm && a.llm.model">{{ a.llm.model }}</code>
            <span class="small muted" v-if="a.llm && a.llm.fallbacks && a.llm.fallbacks.length" :data-testid="'agent-fallbacks-' + a.name"> → {{ a.llm.fallbacks.map((f) => nameOf('backends', f.backend) + (f.model ? ' ' + f.model : '')).join(' → ') }}</span></dd>
          <template v-if="a.transcription && a.transcription.backend"><dt>STT</dt><dd>{{ nameOf('backends', a.transcription.backend) }} <code v-if="a.transcription.model">{{ a.transcription.model }}</code></dd></template>
          <template v-if="a.tts && a.tts.backend"><dt>TTS</dt><dd>{{ nameOf('backends', a.tts.backend) }} <code v-if="a.tts.voice">{{ a.tts.voice }}</code></dd></template>
          <template v-if="a.mcpServers && a.mcpServers.length"><dt>MCP</dt><dd><span class="badge k-mcp" v-for="m in a.mcpServers" :key="m">{{ nameOf('mcps', m) }}</span></dd></template>
        </dl>
        <div class="chip-list" v-if="a.tags && a.tags.length"><span class="chip sm" v-for="t in a.tags" :key="t">#{{ t }}</span></div>
        <footer class="card-actions" @click.stop>
          <button class="btn ghost sm" type="button" @click="go('playground', {app: a.id})"><Icon name="chat" :size="14"/> Chat</button>
          <span class="spacer"></span>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(a)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(a)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <AgentDialog ref="dlg"/>
  </div>`,
  setup() { return { nameOf, go, route, isPending }; },
  mounted() { this.off = onAction('new', () => this.$refs.dlg.show()); this.stopLive = liveHealth(); this.openFromRoute(); },
  unmounted() { this.off(); this.stopLive(); },
  watch: { 'route.params.edit'() { this.openFromRoute(); }, 's.loaded.agents'() { this.openFromRoute(); } },
  methods: {
    shownOf(a) {
      const roles = [a.llm, a.transcription, a.tts, ...((a.llm && a.llm.fallbacks) || [])].filter(Boolean);
      return [...roles.flatMap((r) => [r.backend && nameOf('backends', r.backend), r.model, r.voice]),
        ...(a.mcpServers || []).map((m) => nameOf('mcps', m))];
    },
    // The card's badge: validity first, then the live health of its backends (never "ready"
    // while the backend it runs on is unreachable).
    status(a) {
      if (a.valid === false) return { cls: 'danger', text: 'invalid', title: a.invalidReason || 'invalid' };
      const h = a.health || {};
      if (h.status === 'backend_unreachable') return { cls: 'danger', text: 'unreachable', title: h.reason };
      if (h.status === 'fallback') return { cls: 'warn', text: 'on fallback', title: h.reason };
      if (h.status === 'degraded') return { cls: 'warn', text: 'degraded', title: h.reason };
      if (h.status === 'unknown' && a.llm?.backend) return { cls: 'muted', text: 'not checked', title: 'Its backend has not been checked yet' };
      return { cls: 'ok', text: 'ready', title: 'ready; its backends are up' };
    },
    openFromRoute() {
      const id = route.params.edit;
      if (!id || !store.loaded.agents) return;
      const a = store.agents.find((x) => x.id === id);
      if (a) this.$refs.dlg.show(a);
      clearParams();
    },
    async remove(a) {
      if (await confirmDelete({ kind: 'agent', name: a.name, path: `/agents/${a.id}` })) {
        await Promise.all([load('agents'), load('flows'), load('clients'), load('backends')]);
      }
    },
  },
};
