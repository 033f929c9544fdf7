// Backends: card grid with type, URL, health and "used by" badges; dialog for create/edit/test.
import { api } from '../api.js';
import { store, load, liveHealth, HEALTH_LABEL } from '../store.js';
import { toast } from '../toast.js';
import { route, go, clearParams, onAction } from '../router.js';
import { Icon } from '../components/icon.js';
import { PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, matches, sortable } from '../components/common.js';
import { confirmDelete } from '../components/confirm.js';
import { BackendDialog, backendTypes } from './backend-dialog.js';
import { plural, verdict } from '../components/test-results.js';

const ROLE = { llm: 'LLM', stt: 'STT', tts: 'TTS', embeddings: 'EMB' };
const UNWELL = ['unhealthy', 'down', 'degraded'];

export default {
  name: 'BackendsPage',
  mixins: [sortable('backends')],
  components: { Icon, PageHeader, EmptyState, Skeleton, HealthDot, ErrorBanner, BackendDialog },
  data() { return { s: store, filter: '', testing: {} }; },
  computed: {
    items() { return this.sorted(store.backends.filter((b) => matches(b, this.filter, ['name', 'type', 'url']))); },
  },
  template: `
  <div class="page">
    <PageHeader title="Backends" icon="server" :count="s.backends.length" new-label="New backend" v-model:filter="filter" v-model:sort="sort" :shown="items.length" @new="$refs.dlg.show()"
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
        <p class="health-line small" :data-testid="'health-' + b.name" :data-status="healthWord(b)" :class="'h-' + healthWord(b)" aria-live="polite">
          <template v-if="HEALTH_LABEL[b.health && b.health.status]">{{ HEALTH_LABEL[b.health.status] }}<template v-if="b.health.since"> since {{ new Date(b.health.since).toLocaleTimeString() }}</template><template v-if="b.health.latencyMs != null"> · {{ Math.round(b.health.latencyMs) }} ms</template><template v-if="b.health.source === 'test'"> · by a test</template></template>
          <template v-else-if="b.health && b.health.stale">checking the new settings…</template>
          <template v-else>not checked yet</template><template v-if="b.breaker && b.breaker.state !== 'closed'"> · circuit {{ b.breaker.state.replace('_', '-') }}</template></p>
        <p class="url mono" :title="b.url">{{ b.url || defaultUrl(b.type) || 'default URL' }}</p>
        <p class="error-text small clamp" v-if="b.health && UNWELL.includes(b.health.status) && b.health.lastError" :data-testid="'health-error-' + b.name" :title="b.health.lastError">{{ b.health.lastError }}</p>
        <div class="last-test small" :data-testid="'last-test-' + b.name">
          <template v-if="b.lastTest">
            <span class="lt-label" :class="'lt-' + verdict(b.lastTest).cls" :title="'Tested ' + new Date(b.lastTest.testedAt).toLocaleString()">{{ b.lastTest.ok ? (b.lastTest.warnings && b.lastTest.warnings.length ? 'Test passed, with warnings' : 'Test passed') : 'Test failed' }}</span>
            <span class="role ok" v-for="r in b.lastTest.measured" :key="r" :data-role="r" :title="'Measured: ' + (ROLE[r] || r) + ' works'">✓ {{ ROLE[r] || r }}</span>
            <span class="role bad" v-for="r in (b.lastTest.failed || []).filter((x) => x !== 'models')" :key="'f' + r" :data-role="r" :title="(b.lastTest.roles[r] || {}).detail">✗ {{ ROLE[r] || (r === 'tools' ? 'tools' : r) }}</span>
            <span class="muted" v-if="b.lastTest.embeddingDimension">{{ b.lastTest.embeddingDimension }}-d</span>
            <span class="muted" v-if="!b.lastTest.full">model list only ({{ plural(b.lastTest.modelCount || 0, 'model') }})</span>
          </template>
          <span class="muted" v-else>Not tested{{ b.health && b.health.stale ? ' since the last change' : ' yet' }} — roles unknown</span>
        </div>
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
          <button class="btn ghost sm" type="button" @click="quickTest(b)" :disabled="testing[b.id]" title="Test connection"><Icon :name="testing[b.id] ? 'refresh' : 'zap'" :size="14" :class="{ spin: testing[b.id] }"/> {{ testing[b.id] ? 'Testing…' : 'Test' }}</button>
          <button class="icon-btn" type="button" @click="$refs.dlg.show(b)" title="Edit" aria-label="Edit"><Icon name="edit"/></button>
          <button class="icon-btn danger" type="button" @click="remove(b)" title="Delete" aria-label="Delete"><Icon name="trash"/></button>
        </footer>
      </article>
    </div>
    <BackendDialog ref="dlg"/>
  </div>`,
  setup() { return { ROLE, route, HEALTH_LABEL, UNWELL, plural, verdict }; },
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
    healthWord(b) {
      const h = b.health || {};
      return HEALTH_LABEL[h.status] || (h.stale ? 'checking' : 'unknown');
    },
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
        const lat = r.roles?.models?.latencyMs;
        const extra = `${lat != null ? ` (${Math.round(lat)} ms)` : ''}${r.models?.length ? ` · ${plural(r.models.length, 'model')}` : ''}`;
        if (r.ok && r.warnings?.length) toast.info(`${b.name}: connection OK${extra}; ${r.warnings.join('; ')}`);
        else if (r.ok) toast.success(`${b.name}: connection OK${extra}`);
        else toast.error(`${b.name}: ${r.error || 'connection failed'}`);
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
