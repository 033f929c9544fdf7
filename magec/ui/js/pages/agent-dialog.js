// New/Edit agent dialog: identity, prompt, LLM (backend + model picker), voice, MCPs, context guard.
import { api } from '../api.js';
import { store, load, backendsWithRole, byId, nameTakenBy } from '../store.js';
import { toast } from '../toast.js';
import { Modal } from '../components/modal.js';
import { Icon } from '../components/icon.js';
import { KvEditor, ChipsInput, ToggleChips, Switch } from '../components/inputs.js';
import { ModelInput } from '../components/model-input.js';
import { clone } from '../components/common.js';
import { SchemaForm } from '../components/schema-form.js';
import { FallbackList } from '../components/fallback-list.js';
import { backendTypes } from './backend-dialog.js';

const blank = () => ({
  name: '', description: '', tags: [], systemPrompt: '', outputKey: '',
  llm: { backend: '', model: '', headers: {}, fallbacks: [] },
  transcription: { backend: '', model: '', config: { openai: {}, gemini: {} }, fallbacks: [] },
  tts: { backend: '', model: '', voice: '', fallbacks: [], config: { openai: { speed: null }, gemini: { languageCode: '', temperature: null, stylePrompt: '' } } },
  mcpServers: [],
  skills: [],
  secrets: [], allowAllSecrets: false, secretTools: {},
  contextGuard: { enabled: false, strategy: 'threshold', maxTurns: 20, maxTokens: 0 },
});

function merge(base, src) {
  const out = clone(base);
  for (const [k, v] of Object.entries(src || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' && !Array.isArray(out[k])) out[k] = merge(out[k], v);
    else if (v !== null && v !== undefined) out[k] = clone(v);
  }
  return out;
}

export const AgentDialog = {
  name: 'AgentDialog',
  components: { Modal, Icon, KvEditor, ChipsInput, ToggleChips, Switch, ModelInput, SchemaForm, FallbackList },
  emits: ['saved'],
  // toolsText: the "only for tools" fields as typed. The field shows it, not the parsed list: any
  // re-render (a list loading, a model suggestion) set a field back to the saved value while the
  // user was still typing in it (before its change event), and the typed tools were lost.
  data() { return { open: false, editing: null, form: blank(), saving: false, error: '', fieldErrors: {}, modelNote: '', toolsText: {} }; },
  computed: {
    nameClash() { return nameTakenBy(this.form.name, this.editing && this.editing.id); },
    llmBackends() { return backendsWithRole('llm'); },
    sttBackends() { return backendsWithRole('stt'); },
    ttsBackends() { return backendsWithRole('tts'); },
    ttsBackend() { return byId('backends', this.form.tts.backend); },
    sttBackend() { return byId('backends', this.form.transcription.backend); },
    // GET /voice/types entry of a backend's type: defaults, voices, option schema.
    sttType() { return this.voiceType(this.sttBackend); },
    ttsType() { return this.voiceType(this.ttsBackend); },
    voices() { return [...new Set([...(this.ttsBackend?.capabilities?.voices || []), ...(this.ttsType?.voices || [])])]; },
    // Provider-specific TTS options come from the backend type's JSON Schema when it has one.
    voiceSchema() {
      const t = this.ttsBackend && backendTypes().find((x) => x.type === this.ttsBackend.type);
      const s = this.ttsType?.optionsSchema || t?.voiceOptionsSchema;
      return s && s.properties && Object.keys(s.properties).length ? s : null;
    },
    mcpOptions() { return store.mcps.map((m) => ({ value: m.id, label: m.name, hint: m.type === 'stdio' ? m.command : m.endpoint })); },
    secretOptions() { return (store.secrets || []).map((s) => ({ value: s.key, label: s.key, hint: s.name })); },
    // the keys this agent may use (entries may be ids, as Magec's UI stores them) and those already
    // bound (a binding of a key no longer listed stays visible, so it can be cleared), for "Only for tools"
    usableSecretKeys() {
      const all = store.secrets || [];
      const usable = this.form.allowAllSecrets ? all.map((s) => s.key)
        : this.form.secrets.map((e) => (all.find((s) => s.id === e) || {}).key || e);
      return [...new Set([...usable, ...Object.keys(this.form.secretTools || {})])];
    },
    skillOptions() { return (store.skills || []).map((k) => ({ value: k.id, label: k.name, hint: k.slug ? `package ${k.slug}` : k.description })); },
  },
  template: `
  <Modal v-model:open="open" :title="editing ? 'Edit agent' : 'New agent'" wide :track="form" testid="agent-dialog">
    <form class="form" id="agent-form" @submit.prevent="save">
      <div class="banner warn" v-if="editing && editing.valid === false"><Icon name="alert" :size="16"/> {{ editing.invalidReason || 'This agent is invalid' }}</div>
      <div class="grid-2">
        <div class="field"><label for="a-name">Name <span class="req">*</span></label>
          <input id="a-name" v-model="form.name" required placeholder="e.g. Researcher" autofocus>
          <p class="warn-text small" v-if="nameClash" data-testid="name-clash" role="status">Another {{ nameClash }} is already named “{{ form.name.trim() }}”: clients that call it by name (run API, webhooks, <code>/v1</code> model) will be asked for the id instead. A different name avoids that.</p></div>
        <div class="field"><label>Tags</label><ChipsInput v-model="form.tags" lower placeholder="tag + Enter"/></div>
      </div>
      <div class="field"><label for="a-desc">Description</label>
        <input id="a-desc" v-model="form.description" placeholder="What this agent is for"></div>

      <details class="section" open>
        <summary>System prompt</summary>
        <textarea id="a-prompt" v-model="form.systemPrompt" rows="4" placeholder="You are a helpful assistant…"></textarea>
        <div class="field"><label for="a-okey">Output key</label>
          <input id="a-okey" v-model.trim="form.outputKey" placeholder="e.g. research" spellcheck="false">
          <p class="hint">The final answer is saved in session state under this key; other agents' prompts can read it with <code v-pre>{{agent.output:research}}</code>.</p></div>
      </details>

      <details class="section" open>
        <summary>LLM</summary>
        <div class="grid-2">
          <div class="field"><label for="a-llm-backend">Backend <span class="req">*</span></label>
            <select id="a-llm-backend" v-model="form.llm.backend" @change="backendChanged" :aria-invalid="!!fieldErrors.backend" aria-describedby="a-llm-backend-err">
              <option value="">— choose a backend —</option>
              <option v-for="b in llmBackends" :key="b.id" :value="b.id">{{ b.name }} ({{ b.type }})</option>
            </select>
            <p class="error-text small field-error" id="a-llm-backend-err" v-if="fieldErrors.backend" role="alert" data-testid="agent-backend-error">{{ fieldErrors.backend }}</p>
            <p class="hint" v-if="!llmBackends.length">No LLM backends yet — create one on the Backends page.</p></div>
          <div class="field"><label for="a-llm-model">Model</label>
            <ModelInput id="a-llm-model" v-model="form.llm.model" :backend="form.llm.backend" role="llm"/>
            <p class="hint warn" v-if="modelNote" data-testid="agent-model-note">{{ modelNote }}</p></div>
        </div>
        <div class="field"><label>Fallbacks</label>
          <FallbackList v-model="form.llm.fallbacks" role="llm" testid="llm-fallbacks"/></div>
        <div class="field"><label>Extra headers</label><KvEditor v-model="form.llm.headers" add-label="Add header"/>
          <p class="hint">Override the backend's headers for this agent only.</p></div>
        <div class="field context-guard">
          <Switch v-model="form.contextGuard.enabled" label="Context guard"/>
          <div class="grid-3" v-if="form.contextGuard.enabled">
            <div class="field"><label>Strategy</label>
              <select v-model="form.contextGuard.strategy"><option value="threshold">Token threshold</option><option value="sliding_window">Sliding window</option></select></div>
            <div class="field" v-if="form.contextGuard.strategy === 'threshold'"><label>Max tokens (context window)</label>
              <input type="number" min="0" v-model.number="form.contextGuard.maxTokens" placeholder="0 = 128,000"></div>
            <div class="field" v-else><label>Max turns</label>
              <input type="number" min="1" v-model.number="form.contextGuard.maxTurns"></div>
          </div>
          <p class="hint" v-if="form.contextGuard.enabled">Older turns are summarised by this agent's own model; the model then sees the summary and the recent turns (the stored conversation is unchanged). Token threshold summarises at 80 % of the model's context window (20,000 tokens below it for windows of 200,000 or more).</p>
        </div>
      </details>

      <details class="section" :open="!!(form.transcription.backend || form.tts.backend)">
        <summary>Voice</summary>
        <h4>Speech-to-text</h4>
        <div class="grid-2">
          <div class="field"><label for="a-stt-backend">Backend</label>
            <select id="a-stt-backend" v-model="form.transcription.backend">
              <option value="">None</option>
              <option v-for="b in sttBackends" :key="b.id" :value="b.id">{{ b.name }}</option></select>
            <p class="hint" v-if="!sttBackends.length">No backend offers speech-to-text.</p></div>
          <div class="field" v-if="form.transcription.backend"><label>Model</label>
            <ModelInput v-model="form.transcription.model" :backend="form.transcription.backend" :placeholder="dflt(sttType, 'sttModel', 'e.g. whisper-1')"/></div>
        </div>
        <FallbackList v-if="form.transcription.backend" v-model="form.transcription.fallbacks" role="stt" label="speech-to-text fallback" testid="stt-fallbacks"/>
        <h4>Text-to-speech</h4>
        <div class="grid-2">
          <div class="field"><label for="a-tts-backend">Backend</label>
            <select id="a-tts-backend" v-model="form.tts.backend">
              <option value="">None</option>
              <option v-for="b in ttsBackends" :key="b.id" :value="b.id">{{ b.name }}</option></select>
            <p class="hint" v-if="!ttsBackends.length">No backend offers text-to-speech.</p></div>
          <div class="field" v-if="form.tts.backend"><label>Model</label>
            <ModelInput v-model="form.tts.model" :backend="form.tts.backend" :placeholder="dflt(ttsType, 'ttsModel', 'e.g. tts-1')"/></div>
        </div>
        <div class="grid-3" v-if="form.tts.backend">
          <div class="field"><label for="a-voice">Voice</label>
            <input id="a-voice" v-model="form.tts.voice" list="a-voices" :placeholder="dflt(ttsType, 'voice', 'e.g. nova')">
            <datalist id="a-voices"><option v-for="v in voices" :key="v" :value="v"/></datalist></div>
          <div class="field span-3" v-if="voiceSchema">
            <SchemaForm :schema="voiceSchema" :model-value="form.tts.config[ttsBackend.type] || {}" @update:model-value="form.tts.config[ttsBackend.type] = $event" class="grid-3"/></div>
          <template v-else-if="ttsBackend && ttsBackend.type === 'gemini'">
            <div class="field"><label>Language code</label><input v-model="form.tts.config.gemini.languageCode" placeholder="en-US"></div>
            <div class="field"><label>Temperature</label><input type="number" step="0.1" min="0" max="2" v-model.number="form.tts.config.gemini.temperature"></div>
            <div class="field span-3"><label>Style prompt</label><input v-model="form.tts.config.gemini.stylePrompt" placeholder="Say cheerfully:"></div>
          </template>
          <div class="field" v-else><label for="a-speed">Speed</label>
            <input id="a-speed" type="number" step="0.05" min="0.25" max="4" v-model.number="form.tts.config.openai.speed" placeholder="1.0"></div>
        </div>
        <FallbackList v-if="form.tts.backend" v-model="form.tts.fallbacks" role="tts" voice label="text-to-speech fallback" testid="tts-fallbacks"/>
      </details>

      <details class="section" :open="form.mcpServers.length > 0">
        <summary>MCP servers <span class="count" v-if="form.mcpServers.length">{{ form.mcpServers.length }}</span></summary>
        <ToggleChips v-model="form.mcpServers" :options="mcpOptions" empty="No MCP servers defined yet." search="Search MCP servers"/>
      </details>
      <details class="section" :open="form.skills.length > 0" data-testid="agent-skills">
        <summary>Skills <span class="count" v-if="form.skills.length">{{ form.skills.length }}</span></summary>
        <ToggleChips v-model="form.skills" :options="skillOptions" empty="No skills defined yet." search="Search skills"/>
      </details>
      <details class="section" :open="form.secrets.length > 0 || form.allowAllSecrets" data-testid="agent-secrets">
        <summary>Secrets in tool calls <span class="count" v-if="form.secrets.length">{{ form.secrets.length }}</span></summary>
        <p class="hint">The model may write <code v-pre>{{secret:KEY}}</code> in a tool call for these secrets: the value is filled in just before the tool runs and masked in everything the model and clients see.</p>
        <Switch v-model="form.allowAllSecrets" label="Allow every secret"/>
        <ToggleChips v-if="!form.allowAllSecrets" v-model="form.secrets" :options="secretOptions" empty="No secrets defined yet." search="Search secrets"/>
        <div class="grid-2" v-if="usableSecretKeys.length">
          <div class="field" v-for="k in usableSecretKeys" :key="k"><label :for="'a-st-' + k">{{ k }}: only for tools</label>
            <input :id="'a-st-' + k" class="mono" :value="toolsText[k] ?? (form.secretTools[k] || []).join(', ')" placeholder="any tool (e.g. github/create_issue, comma-separated)"
              @input="toolsText = { ...toolsText, [k]: $event.target.value }" @change="setSecretTools(k, $event.target.value)"></div>
        </div>
      </details>
      <p class="error-text" v-if="error" role="alert">{{ error }}</p>
    </form>
    <template #footer>
      <button class="btn ghost" type="button" @click="open = false">Cancel</button>
      <button class="btn" type="submit" form="agent-form" :disabled="saving">{{ saving ? 'Saving…' : (editing ? 'Save' : 'Create') }}</button>
    </template>
  </Modal>`,
  methods: {
    voiceType(b) { return b ? store.voiceTypes.find((t) => t.type === b.type) : null; },
    dflt(t, key, fallback) { const v = t?.defaults?.[key]; return v ? `${v} (default)` : fallback; },
    show(a) {
      this.editing = a || null;
      load('secrets');  // the picker lists them by key
      this.form = a ? merge(blank(), a) : blank();
      this.toolsText = {};
      if (!a && this.llmBackends.length === 1) this.form.llm.backend = this.llmBackends[0].id;
      Object.assign(this, { error: '', fieldErrors: {}, modelNote: '', saving: false, open: true });
    },
    // Another backend: the old provider's model name would be sent to the new one. Clear it
    // (its model list is offered as suggestions) and say so, instead of keeping it silently.
    backendChanged() {
      this.fieldErrors = { ...this.fieldErrors, backend: '' };
      const old = this.form.llm.model;
      if (!old) { this.modelNote = ''; return; }
      this.form.llm.model = '';
      const b = byId('backends', this.form.llm.backend);
      this.modelNote = `“${old}” was the previous backend's model: pick one of ${b ? b.name + '’s' : 'this backend’s'} models.`;
    },
    // Remote A2A agents answer through their peer; every other agent needs an LLM backend.
    needsBackend() { return !(this.form.a2a && this.form.a2a.remote && this.form.a2a.remote.url); },
    payload() {
      const f = clone(this.form);
      for (const k of ['id', 'valid', 'invalidReason', 'createdAt', 'updatedAt']) delete f[k];
      f.name = f.name.trim();
      for (const role of ['llm', 'transcription', 'tts']) f[role].fallbacks = (f[role].fallbacks || []).filter((x) => x.backend);
      for (const ns of Object.values(f.tts.config || {})) {
        for (const k of Object.keys(ns || {})) if (ns[k] === '' || ns[k] == null) delete ns[k];
      }
      return f;
    },
    // secretTools[k]: the only tools the secret's value goes into (empty = any tool)
    setSecretTools(k, text) {
      const names = text.split(',').map((x) => x.trim()).filter(Boolean);
      const next = { ...this.form.secretTools };
      if (names.length) next[k] = names; else delete next[k];
      this.form.secretTools = next;
    },
    async save() {
      if (!this.form.name.trim()) { this.error = 'Name is required'; return; }
      this.fieldErrors = {};
      if (!this.form.llm.backend && this.needsBackend()) {
        this.fieldErrors = { backend: 'Choose the backend this agent runs on (LLM backend is required).' };
        this.$nextTick(() => document.getElementById('a-llm-backend')?.focus());
        return;
      }
      // what was typed counts even when its field never fired a change (Enter submits first)
      for (const [k, text] of Object.entries(this.toolsText)) this.setSecretTools(k, text);
      this.saving = true; this.error = '';
      try {
        const saved = this.editing ? await api.put(`/agents/${this.editing.id}`, this.payload()) : await api.post('/agents', this.payload());
        toast.success(`Agent “${this.form.name}” ${this.editing ? 'saved' : 'created'}`);
        this.open = false;
        await Promise.all([load('agents'), load('backends')]);
        this.$emit('saved', saved);
      } catch (e) {
        // a 4xx naming llm.backend is shown at that field, anything else under the form
        if (/llm\.backend|backend/i.test(e.data?.field || '')) this.fieldErrors = { backend: e.message };
        else this.error = e.message;
      } finally { this.saving = false; }
    },
  },
};
