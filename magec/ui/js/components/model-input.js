// Model text input whose suggestions come from the backend's model list (free text allowed).
import { modelsFor, fetchModels } from '../store.js';
import { Icon } from './icon.js';

let uid = 0;
const NOT_CHAT = /embed|(^|[-_/.])(tts|stt)([-_/.]|$)|whisper|transcri|speech|moderation|dall-e|rerank/i;

export const ModelInput = {
  name: 'ModelInput',
  components: { Icon },
  props: { modelValue: String, backend: String, placeholder: { default: 'e.g. gpt-4.1, qwen3:8b' }, id: String, role: String },
  emits: ['update:modelValue'],
  data() { return { listId: `models-${++uid}` }; },
  computed: {
    info() { return modelsFor(this.backend); },
    // For the LLM field, models that are clearly not chat models (embeddings, speech) are not offered.
    models() {
      const all = (this.info.models || []).map((m) => (typeof m === 'string' ? { id: m } : m));
      return this.role === 'llm' ? all.filter((m) => !NOT_CHAT.test(m.id)) : all;
    },
  },
  template: `
  <div class="model-input">
    <div class="row">
      <input :id="id" :value="modelValue" :list="listId" :placeholder="placeholder" spellcheck="false" autocomplete="off"
        @input="$emit('update:modelValue', $event.target.value)">
      <button type="button" class="icon-btn" :disabled="!backend || info.loading" @click="refresh" title="Refresh model list" aria-label="Refresh model list">
        <Icon name="refresh" :class="{spin: info.loading}"/></button>
    </div>
    <datalist :id="listId"><option v-for="m in models" :key="m.id" :value="m.id">{{ m.ownedBy || '' }}</option></datalist>
    <p class="hint" v-if="backend && info.loading">Loading models…</p>
    <p class="hint" v-else-if="backend && info.error">Could not list models: {{ info.error }} — type the model name.</p>
    <p class="hint" v-else-if="backend && models.length">{{ models.length }} {{ models.length === 1 ? 'model' : 'models' }} available{{ info.cached ? ' (cached)' : '' }}.</p>
  </div>`,
  methods: { refresh() { fetchModels(this.backend, true); } },
};
