// New/Edit memory provider: type, category, schema-driven config, embedding backend + model.
// A new provider can be put to use at once ("Use it now": the settings' active provider of its
// category), ticked by default when long-term memory is off, so the first one turns memory on.
import { api } from '../api.js';
import { store, load, backendsWithRole, setSettings } from '../store.js';
import { toast } from '../toast.js';
import { Modal } from '../components/modal.js';
import { SchemaForm } from '../components/schema-form.js';
import { ModelInput } from '../components/model-input.js';
import { clone } from '../components/common.js';
import { FallbackList } from '../components/fallback-list.js';

export const FALLBACK_MEMORY_TYPES = [
  { type: 'sqlite', displayName: 'SQLite (embedded)', categories: ['session', 'longterm'], configSchema: { type: 'object', properties: { path: { type: 'string', description: 'Database file; empty = the main database' } } } },
  { type: 'redis', displayName: 'Redis', categories: ['session'], configSchema: { type: 'object', required: ['connectionString'], properties: { connectionString: { type: 'string', 'x-placeholder': 'redis://user:pass@host:6379/0' }, ttl: { type: 'string', default: '24h' } } } },
  { type: 'postgres', displayName: 'PostgreSQL + pgvector', categories: ['longterm'], configSchema: { type: 'object', required: ['connectionString'], properties: { connectionString: { type: 'string', 'x-placeholder': 'postgres://u:p@host:5432/db?sslmode=disable' } } } },
];
export const memoryTypes = () => (store.memoryTypes.length ? store.memoryTypes : FALLBACK_MEMORY_TYPES);

const blank = (category = 'longterm') => ({ name: '', type: '', category, config: {}, embedding: { backend: '', model: '', fallbacks: [] } });

export const MemoryDialog = {
  name: 'MemoryDialog',
  components: { Modal, SchemaForm, ModelInput, FallbackList },
  data() { return { s: store, open: false, editing: null, form: blank(), saving: false, error: '', useNowPick: null }; },
  computed: {
    types() { return memoryTypes(); },
    typesForCategory() { return this.types.filter((t) => !t.categories || t.categories.includes(this.form.category)); },
    typeInfo() { return this.types.find((t) => t.type === this.form.type) || {}; },
    embedBackends() { return backendsWithRole('embeddings'); },
    setting() { return this.form.category === 'session' ? 'sessionProvider' : 'longTermProvider'; },
    // Default: on when this category has no active provider yet (long-term memory "Off");
    // sessions already work on the main database, so a new session provider is opt-in.
    useNowDefault() { return this.form.category === 'longterm' && !store.settings[this.setting]; },
    useNow() { return this.useNowPick ?? this.useNowDefault; },
    changedModel() {
      const e = this.editing?.embedding || {};
      return !!e.model && (e.model !== this.form.embedding.model || e.backend !== this.form.embedding.backend);
    },
  },
  watch: {
    'form.category'() { if (!this.typesForCategory.some((t) => t.type === this.form.type)) this.form.type = this.typesForCategory[0]?.type || ''; },
  },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit memory provider' : 'New memory provider'" wide testid="memory-dialog">
    <form class="form" id="memory-form" @submit.prevent="save">
      <div class="grid-2">
        <div class="field"><label for="m-name">Name <span class="req">*</span></label>
          <input id="m-name" v-model="form.name" required placeholder="e.g. Long-term (pgvector)" autofocus></div>
        <div class="field"><label>Category</label>
          <div class="seg">
            <label :class="{on: form.category === 'session'}"><input type="radio" value="session" v-model="form.category"> Session</label>
            <label :class="{on: form.category === 'longterm'}"><input type="radio" value="longterm" v-model="form.category"> Long-term</label>
          </div></div>
      </div>
      <div class="field"><label for="m-type">Type</label>
        <select id="m-type" v-model="form.type">
          <option v-for="t in typesForCategory" :key="t.type" :value="t.type">{{ t.displayName || t.type }}</option></select>
        <p class="hint" v-if="typeInfo.description">{{ typeInfo.description }}</p></div>
      <SchemaForm :schema="typeInfo.configSchema" v-model="form.config"/>
      <fieldset v-if="form.category === 'longterm'" class="section-box">
        <legend>Embeddings</legend>
        <div class="grid-2">
          <div class="field"><label for="m-emb-backend">Backend</label>
            <select id="m-emb-backend" v-model="form.embedding.backend">
              <option value="">— choose —</option>
              <option v-for="b in embedBackends" :key="b.id" :value="b.id">{{ b.name }}</option></select>
            <p class="hint" v-if="!embedBackends.length">No backend offers embeddings yet.</p></div>
          <div class="field"><label>Model</label>
            <ModelInput v-model="form.embedding.model" :backend="form.embedding.backend" placeholder="e.g. nomic-embed-text"/></div>
        </div>
        <FallbackList v-if="form.embedding.backend" v-model="form.embedding.fallbacks" role="embeddings" label="embedding fallback" testid="embedding-fallbacks"/>
        <p class="hint" v-if="form.embedding.fallbacks && form.embedding.fallbacks.length">A memory saved while the backend above is down is embedded by a fallback and searched with that model until it is re-embedded.</p>
        <p class="hint" v-if="editing && changedModel">Changing the embedding model means stored memories must be re-embedded; start it from the provider card after saving.</p>
      </fieldset>
      <label class="check use-now" v-if="!editing" data-testid="use-now">
        <input type="checkbox" :checked="useNow" @change="useNowPick = $event.target.checked">
        <span>Use it now <span class="muted small">— {{ form.category === 'session' ? 'keep conversations in this provider instead of the main database' : (s.settings.longTermProvider ? 'switch agent memory to this provider' : 'turn agent memory on with this provider') }}</span></span>
      </label>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="memory-form" :disabled="saving">{{ saving ? 'Saving…' : (editing ? 'Save' : 'Create') }}</button>
    </template>
  </Modal>`,
  methods: {
    show(m, category) {
      this.editing = m || null;
      this.form = m ? { ...blank(), ...clone(m), embedding: { backend: '', model: '', fallbacks: [], ...clone(m.embedding || {}) }, config: clone(m.config || {}) } : blank(category);
      if (!this.form.type) this.form.type = this.typesForCategory[0]?.type || '';
      Object.assign(this, { error: '', saving: false, open: true, useNowPick: null });
    },
    async save() {
      this.saving = true; this.error = '';
      // Drop the API's "<field>Set" flags; blank write-only fields are sent as "" (= keep).
      const config = Object.fromEntries(Object.entries(this.form.config || {}).filter(([k]) => !(k.endsWith('Set') && k.slice(0, -3) in (this.form.config || {}))));
      const body = { name: this.form.name.trim(), type: this.form.type, category: this.form.category, config };
      if (this.form.category === 'longterm') body.embedding = { ...this.form.embedding, fallbacks: (this.form.embedding.fallbacks || []).filter((x) => x.backend) };
      let created = null;
      try {
        if (this.editing) await api.put(`/memory/${this.editing.id}`, body); else created = await api.post('/memory', body);
      } catch (e) { this.error = e.message; this.saving = false; return; }
      const activate = created && created.id && this.useNow;
      this.open = false;
      await Promise.all([load('memory'), load('backends')]);
      if (activate) await this.activate(created, body); else toast.success(`Memory provider “${body.name}” ${this.editing ? 'saved' : 'created'}`);
      this.saving = false;
    },
    // The provider exists by now: a refused selection (e.g. pgvector missing) leaves it created, and says why.
    async activate(created, body) {
      const setting = body.category === 'session' ? 'sessionProvider' : 'longTermProvider';
      const next = { ...store.settings, [setting]: created.id };
      try {
        setSettings((await api.put('/settings', next)) || next);
        toast.success(body.category === 'session' ? `Sessions now live in “${body.name}”` : `Long-term memory is on: “${body.name}”`);
      } catch (e) { toast.error(`Memory provider “${body.name}” created, but not put to use: ${e.message}`); }
    },
  },
};
