// Backends: card grid with type, URL, health and "used by" badges; dialog for create/edit/test.
import { api } from '../api.js';
import { store, load, liveHealth, HEALTH_LABEL } from '../store.js';
import { toast } from '../toast.js';
import { route, go, clearParams, onAction } from '../router.js';
import { Icon } from '../components/icon.js';
import { PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, matches } from '../components/common.js';
import { confirmDelete } from '../components/confirm.js';
import { BackendDialog, backendTypes } from './backend-dialog.js';

const ROLE = { llm: 'LLM', stt: 'STT', tts: 'TTS', embeddings: 'EMB' };

export default {
  name: 'BackendsPage',
  components: { Icon, PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, BackendDialog },
  data() { return { s: store, filter: '', testing: {} }; },
  computed: {
    items() { return store.backends.filter((b) => matches(b, this.filter, ['name', 'type', 'url'])); },
  },
  template: `
  <div class="page">
    <PageHeader title="Backends" icon="server" :count="s.backends.length" new-label="New backend" v-model:filter="filter" @new="$refs.dlg.show()"
      subtitle="Connections to AI providers. Agents use them for LLM, speech and TTS; memory uses them for embeddings."/>
    <ErrorBanner :error="s.errors.backends"/>
    <Skeleton v-if="!s.loaded.backends"/>
    <EmptyState v-else-if="!s.backends.length" icon="server" title="No backends yet"
      text="Add a connection to OpenAI, an Ollama box, Anthropic, Gemini or a local model." action="New backend" @action="$refs.dlg.show()"/>
    <div v-else class="grid">
      <article class="card entity backend" v-for="b in items" :key="b.id" :data-testid="'backend-' + b.name" @click="$refs.dlg.show(b)" tabindex="0" @keydown.enter="$refs.dlg.show(b)">
        <header class="card-head">
          <span class="type-badge" :class="'t-' + b.type" :title="typeName(b.type)">{{ (b.type || '?').slice(0, 3).toUpperCase() }}</span>
          <h3>{{ b.name }}</h3>
          <HealthDot :status="b.health && b.health.status" :title="healthTitle(b)"/>
        </header>
        <p class="health-line small" v-if="b.health && HEALTH_LABEL[b.health.status]" :data-testid="'health-' + b.name" :class="'h-' + HEALTH_LABEL[b.health.status]">
          {{ HEALTH_LABEL[b.health.status] }}<template v-if="b.health.since"> since {{ new Date(b.health.since).toLocaleTimeString() }}</template><template v-if="b.health.latencyMs != null"> · {{ Math.round(b.health.latencyMs) }} ms</template><template v-if="b.breaker && b.breaker.state !== 'closed'"> · circuit {{ b.breaker.state.replace('_', '-') }}</template></p>
        <p class="url mono" :title="b.url">{{ b.url || defaultUrl(b.type) || 'default URL' }}</p>
        <div class="roles-line" v-if="b.capabilities && b.capabilities.roles && b.capabilities.roles.length">
          <span class="role" v-for="r in b.capabilities.roles" :key="r">{{ ROLE[r] || r }}</span>
        </div>
        <p class="error-text small clamp" v-if="b.health && ['unhealthy', 'down', 'degraded'].includes(b.health.status) && b.health.lastError">{{ b.health.lastError }}</p>
        <div class="used-by">
          <span class="muted small" v-if="!b.usedBy || !b.usedBy.length">Not used yet</span>
          <span v-for="u in b.usedBy || []" :key="u.kind + u.id + u.role" class="badge use link-badge" :class="'k-' + u.kind"
            role="link" tabindex="0" @click.stop="openRef(u)" @keydown.enter.stop="openRef(u)"
            :title="(u.kind === 'memoryProvider' ? 'Memory provider' : 'Agent') + ' ' + u.name + ' uses it for ' + (ROLE[u.role] || u.role)">
            {{ u.name }} · {{ ROLE[u.role] || u.role }}</span>
        </div>
        <footer class="card-actions" @click.stop>
          <span class="muted small key-ref" v-if="b.apiKeySet || b.apiKey" :title="b.apiKey || 'API key stored'"><Icon name="key" :size="12"/> {{ b.apiKey ? b.apiKey : 'key set' }}</span>
          <span class="spacer"></span>
          <button class="btn ghost sm" type="button" @click="quickTest(b)" :disabled="testing[b.id]" title="Test connection"><Icon name="zap" :size="14"/> {{ testing[b.id] ? '…' : 'Test' }}</button>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(b)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(b)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <BackendDialog ref="dlg"/>
  </div>`,
  setup() { return { ROLE, route, HEALTH_LABEL }; },
  mounted() {
    this.off = onAction('new', () => this.$refs.dlg.show());
    this.stopLive = liveHealth();
    this.openFromRoute();
  },
  unmounted() { this.off(); this.stopLive(); },
  watch: { 'route.params.edit'() { this.openFromRoute(); }, 's.loaded.backends'() { this.openFromRoute(); } },
  methods: {
    openRef(u) { go(u.kind === 'memoryProvider' ? 'memory' : 'agents', u.kind === 'memoryProvider' ? {} : { edit: u.id }); },
    typeName(t) { return backendTypes().find((x) => x.type === t)?.displayName || t; },
    defaultUrl(t) { return backendTypes().find((x) => x.type === t)?.defaultUrl; },
    healthTitle(b) {
      const h = b.health || {};
      return `${h.status || 'unknown'}${h.checkedAt ? ' · checked ' + new Date(h.checkedAt).toLocaleString() : ''}${h.lastError ? ' · ' + h.lastError : ''}`;
    },
    openFromRoute() {
      const id = route.params.edit;
      if (!id || !store.loaded.backends) return;
      const b = store.backends.find((x) => x.id === id);
      if (b) this.$refs.dlg.show(b);
      clearParams();
    },
    async quickTest(b) {
      this.testing[b.id] = true;
      try {
        const r = await api.post(`/backends/${b.id}/test`, {});
        if (r.ok) {
          const lat = r.roles && Object.values(r.roles).find((x) => x && x.latencyMs != null);
          toast.success(`${b.name}: connection OK${lat ? ` (${Math.round(lat.latencyMs)} ms)` : ''}${r.models?.length ? ` · ${r.models.length} models` : ''}`);
        } else toast.error(`${b.name}: ${r.error || 'connection failed'}`);
      } catch (e) { toast.error(e); } finally {
        this.testing[b.id] = false;
        load('backends');
      }
    },
    async remove(b) {
      if (await confirmDelete({ kind: 'backend', name: b.name, path: `/backends/${b.id}` })) {
        await Promise.all([load('backends'), load('agents'), load('memory')]);
      }
    },
  },
};
